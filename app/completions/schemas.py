"""Request and response models for completions, reviews and comments."""

import uuid
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from app.assignments.schedules import LocalTime
from app.completions.models import CompletionStatus, SkipReason
from app.core.schemas import Schema
from app.core.types import NOT_BLANK, CalendarDate, Instant, JsonObject
from app.templates.definitions import TemplateKind
from app.templates.scoring import Score

Mood = Annotated[int, Field(strict=True, ge=0, le=10)]
Distress = Annotated[int, Field(strict=True, ge=0, le=100)]
DayMinutes = Annotated[int, Field(strict=True, ge=0, le=1440)]
Note = Annotated[str, StringConstraints(max_length=10000)]
SkipNote = Annotated[str, StringConstraints(max_length=2000)]
CommentBody = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000, pattern=NOT_BLANK)
]


class CompletionFields(Schema):
    status: CompletionStatus = CompletionStatus.done
    responses: JsonObject = Field(
        default_factory=dict,
        description="Answers keyed by field key; checked against the "
        "assignment's pinned template version. Nested at most 32 levels, 10,000 values.",
    )
    mood_before: Mood | None = Field(default=None, description="0 to 10.")
    mood_after: Mood | None = Field(default=None, description="0 to 10.")
    discomfort: Distress | None = Field(
        default=None, description="0 to 100 subjective units of distress."
    )
    duration_minutes: DayMinutes | None = None
    note: Note | None = Field(default=None, description="The client's own reflection.")
    wants_to_discuss: StrictBool = Field(
        default=False, description="The client asks to talk about this in the next session."
    )
    skip_reason: SkipReason | None = Field(default=None, description="Required when skipped.")
    skip_note: SkipNote | None = None


class CompletionCreate(CompletionFields):
    id: uuid.UUID | None = Field(
        default=None,
        description="Client-made UUID for offline queues: a retry with the same id and body "
        "answers the stored completion (200); with another body, 409.",
    )
    completed_at: Instant = Field(
        description="The client's clock; up to 30 days in the past, at most 5 minutes ahead."
    )
    occurrence_date: CalendarDate | None = Field(
        default=None,
        description="Local date of the occurrence; the date of completed_at "
        "in the schedule's zone when absent.",
    )
    occurrence_time: LocalTime | None = Field(
        default=None, description="HH:MM of the occurrence; required for timed schedules."
    )


class BatchCompletionCreate(CompletionCreate):
    assignment_id: uuid.UUID


class CompletionBatch(Schema):
    items: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=100,
        description="Each item is a completion create plus its `assignment_id`; items are "
        "checked one by one, so one bad item does not sink the rest.",
    )


class CompletionUpdate(Schema):
    status: CompletionStatus | None = None
    responses: JsonObject | None = None
    mood_before: Mood | None = None
    mood_after: Mood | None = None
    discomfort: Distress | None = None
    duration_minutes: DayMinutes | None = None
    note: Note | None = None
    wants_to_discuss: StrictBool | None = None
    skip_reason: SkipReason | None = None
    skip_note: SkipNote | None = None


class CompletionRead(BaseModel):
    id: uuid.UUID
    clinic_id: uuid.UUID
    client_id: uuid.UUID
    assignment_id: uuid.UUID
    template_id: uuid.UUID
    template_version: int
    template_kind: TemplateKind
    occurrence_date: date
    occurrence_time: str | None
    status: CompletionStatus
    completed_at: datetime
    responses: dict[str, Any]
    mood_before: int | None
    mood_after: int | None
    discomfort: int | None
    duration_minutes: int | None
    note: str | None
    wants_to_discuss: bool
    skip_reason: SkipReason | None
    skip_note: str | None
    score: Score | None
    reviewed_at: datetime | None
    reviewed_by_id: uuid.UUID | None
    recorded_by_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    version: int


class BatchItemResult(BaseModel):
    index: int
    status: int = Field(description="201 stored, 200 replayed, 409 conflict, 422 invalid, 404.")
    id: uuid.UUID | None = None
    completion: CompletionRead | None = None
    problem: dict[str, Any] | None = Field(default=None, description="The item's problem details.")


class BatchResult(BaseModel):
    results: list[BatchItemResult]


class ReviewCreate(Schema):
    comment: CommentBody | None = Field(default=None, description="Posted to the thread too.")


class CommentCreate(Schema):
    body: CommentBody


class CommentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    completion_id: uuid.UUID
    author_id: uuid.UUID | None
    author_role: str
    body: str
    created_at: datetime
    updated_at: datetime
    version: int
