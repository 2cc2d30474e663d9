"""Support signals as the API shows them, and each clinic's rules."""

import enum
import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.completions.models import SkipReason
from app.core.schemas import Schema
from app.support.models import ClearedBy


class SupportRule(enum.StrEnum):
    missed_in_a_row = "missed_in_a_row"
    hard_in_a_week = "hard_in_a_week"
    adherence_drop = "adherence_drop"


class Suggestion(enum.StrEnum):
    shorter_variant = "shorter_variant"
    different_time_of_day = "different_time_of_day"
    discuss_in_session = "discuss_in_session"


SUGGESTION_TEXT = {
    Suggestion.shorter_variant: "Offer a shorter variant of the homework.",
    Suggestion.different_time_of_day: "Try a different time of day for the homework.",
    Suggestion.discuss_in_session: "Discuss the homework in the next session.",
}


class SupportReason(BaseModel):
    rule: SupportRule
    detail: str = Field(examples=["3 occurrences in a row missed or skipped"])
    count: int | None = Field(
        default=None, description="Occurrences in the run, or hard completions in the week."
    )
    since: date | None = Field(
        default=None, description="Local date of the first occurrence the rule counted."
    )
    adherence_7d: float | None = None
    adherence_previous_21d: float | None = None


class SupportSignal(BaseModel):
    """What the caseload shows of a client's open, unacknowledged support episode."""

    episode_id: uuid.UUID
    since: datetime
    reasons: list[SupportReason]
    suggestion: Suggestion
    suggestion_text: str


class EpisodeStatus(enum.StrEnum):
    open = "open"
    acknowledged = "acknowledged"
    closed = "closed"


class SupportEpisodeRead(BaseModel):
    id: uuid.UUID
    clinic_id: uuid.UUID
    client_id: uuid.UUID
    status: EpisodeStatus = Field(
        description="open (needs support), acknowledged (seen by the care team, still "
        "struggling) or closed (recovered)."
    )
    opened_at: datetime
    reasons: list[SupportReason]
    suggestion: Suggestion
    suggestion_text: str
    acknowledged_at: datetime | None
    acknowledged_by_id: uuid.UUID | None
    closed_at: datetime | None
    cleared_by: ClearedBy | None = Field(
        description="What cleared the signal: the care team's acknowledgement, or recovery."
    )
    created_at: datetime
    updated_at: datetime
    version: int


RowCount = Annotated[int, Field(strict=True, ge=2, le=50)]
WeekCount = Annotated[int, Field(strict=True, ge=1, le=50)]
Discomfort = Annotated[int, Field(strict=True, ge=1, le=100)]
Ratio = Annotated[float, Field(strict=True, gt=0, lt=1)]
MinPrevious = Annotated[int, Field(strict=True, ge=1, le=200)]


class SupportRulesFields(BaseModel):
    missed_in_a_row: RowCount | None = Field(
        default=3,
        description="Occurrences missed or skipped in a row that raise a signal; null: off.",
    )
    hard_in_a_week: WeekCount | None = Field(
        default=2,
        description="Hard completions within 7 local days (skipped for one of "
        "`hard_skip_reasons`, or discomfort at least `discomfort_at_least`); null: off.",
    )
    hard_skip_reasons: list[SkipReason] = Field(
        default_factory=lambda: [SkipReason.too_uncomfortable], max_length=6
    )
    discomfort_at_least: Discomfort = Field(
        default=80, description="On the completions' 0-100 discomfort (SUDS) scale."
    )
    adherence_drop_below: Ratio | None = Field(
        default=0.5,
        description="Raise when adherence over the last 7 local days is below this fraction "
        "of the previous 21 days'; null: off.",
    )
    adherence_min_previous: MinPrevious = Field(
        default=3,
        description="Occurrences due in the previous 21 days before the drop rule applies.",
    )


class SupportRulesRead(SupportRulesFields):
    model_config = ConfigDict(from_attributes=True)

    clinic_id: uuid.UUID
    customized: bool = Field(description="False while the clinic uses the defaults.")
    updated_at: datetime | None
    version: int = Field(description="0 while the clinic uses the defaults.")


class SupportRulesUpdate(Schema):
    """Only the fields sent change; null turns a rule off."""

    missed_in_a_row: RowCount | None = None
    hard_in_a_week: WeekCount | None = None
    hard_skip_reasons: list[SkipReason] | None = Field(default=None, max_length=6)
    discomfort_at_least: Discomfort | None = None
    adherence_drop_below: Ratio | None = None
    adherence_min_previous: MinPrevious | None = None

    @field_validator("hard_skip_reasons")
    @classmethod
    def _distinct(cls, value: list[SkipReason] | None) -> list[SkipReason] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("each reason at most once")
        return value

    @field_validator("discomfort_at_least", "adherence_min_previous")
    @classmethod
    def _not_null(cls, value: int | None) -> int | None:
        if value is None:
            raise ValueError("may not be null")
        return value

    @field_validator("hard_skip_reasons", mode="before")
    @classmethod
    def _list_not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may not be null; send [] for none")
        return value
