"""Progress metrics: adherence, streaks, mood, measures, goals, and the caseload overview."""

import enum
import uuid
from datetime import date, datetime

from pydantic import BaseModel, Field

from app.completions.adherence import Counts
from app.support.schemas import SupportSignal
from app.templates.definitions import TemplateKind


def counts_fields(c: Counts) -> dict[str, int | float | None]:
    """The fields of `AdherenceCounts` (and of the models extending it) from counts."""
    return {
        "scheduled": c.scheduled,
        "completed": c.completed,
        "skipped": c.skipped,
        "missed": c.missed,
        "paused": c.paused,
        "pending": c.pending,
        "rate": c.rate,
    }


class Granularity(enum.StrEnum):
    day = "day"
    week = "week"


class AdherenceCounts(BaseModel):
    scheduled: int = Field(description="Occurrences whose day is over or that were answered.")
    completed: int
    skipped: int
    missed: int
    paused: int = Field(description="Scheduled while the assignment was paused.")
    pending: int = Field(description="Today's, not answered yet (not in `scheduled`).")
    rate: float | None = Field(description="completed / (scheduled - paused); null when 0/0.")

    @classmethod
    def of(cls, counts: Counts) -> "AdherenceCounts":
        return cls(**counts_fields(counts))


class AssignmentAdherence(AdherenceCounts):
    assignment_id: uuid.UUID
    title: str
    template_kind: TemplateKind


class KindAdherence(AdherenceCounts):
    template_kind: TemplateKind


class Adherence(AdherenceCounts):
    by_assignment: list[AssignmentAdherence]
    by_kind: list[KindAdherence]


class Streaks(BaseModel):
    current: int = Field(description="Counting local days up to today.")
    longest: int = Field(description="Longest run of counting days within the window.")
    rule: str


class Mood(BaseModel):
    average_before: float | None
    average_after: float | None
    average_change: float | None = Field(description="Mean of after - before where both exist.")
    completions_with_both: int


class Discomfort(BaseModel):
    average: float | None
    change: float | None = Field(description="Last period's average minus the first's.")
    trend: str | None = Field(description="falling, rising or flat; null without two periods.")


class MeasurePoint(BaseModel):
    date: date
    total: int
    band: str | None


class MeasureSeries(BaseModel):
    template_id: uuid.UUID
    title: str
    series: list[MeasurePoint]
    change: int | None = Field(description="Latest total minus the first in the window.")


class GoalSummary(BaseModel):
    active: int
    achieved: int
    abandoned: int
    average_step_progress: float | None


class Period(BaseModel):
    period_start: date
    period_end: date
    scheduled: int
    completed: int
    rate: float | None
    mood_change: float | None
    discomfort: float | None


class ClientMetrics(BaseModel):
    client_id: uuid.UUID
    timezone: str
    from_date: date = Field(serialization_alias="from")
    to_date: date = Field(serialization_alias="to")
    granularity: Granularity
    adherence: Adherence
    streaks: Streaks
    mood: Mood
    discomfort: Discomfort
    minutes_practised: int
    skip_reasons: dict[str, int]
    measures: list[MeasureSeries]
    goals: GoalSummary
    series: list[Period]


class CaseloadSort(enum.StrEnum):
    name = "name"
    adherence_7d = "adherence_7d"
    adherence_30d = "adherence_30d"
    last_completion_at = "last_completion_at"
    unreviewed = "unreviewed"
    open_discuss = "open_discuss"
    open_risk = "open_risk"
    latest_band = "latest_band"


class CaseloadRow(BaseModel):
    client_id: uuid.UUID
    display_name: str
    adherence_7d: float | None
    adherence_30d: float | None
    last_completion_at: datetime | None
    unreviewed: int
    open_discuss: int = Field(description="Unreviewed completions the client wants to discuss.")
    open_risk: int = Field(description="Unreviewed completions with a risk flag.")
    latest_measure: str | None = Field(description="Title of the most recent scored measure.")
    latest_band: str | None
    band_direction: str | None = Field(description="improving, worsening, same; null if one point.")
    needs_support: SupportSignal | None = Field(
        description="The client's open support signal, until the care team acknowledges it "
        "or the client recovers; null when there is none.",
    )
