"""The progress report as JSON: the numbers the PDF and the charts show, for apps that draw their
own and for accessibility (a screen reader reads this, not a chart)."""

import enum
import uuid
from datetime import date, datetime

from pydantic import BaseModel, Field

from app.goals.models import GoalStatus
from app.metrics.schemas import ClientMetrics


class Audience(enum.StrEnum):
    """`clinician`: for the care team and the record; `client`: the client's own copy (no risk
    flags, no unreviewed-work counts, kinder wording)."""

    clinician = "clinician"
    client = "client"


class Paper(enum.StrEnum):
    a4 = "a4"
    letter = "letter"


class ChartName(enum.StrEnum):
    calendar = "calendar"
    measures = "measures"
    mood = "mood"
    minutes = "minutes"


class DayStatus(enum.StrEnum):
    done = "done"
    partly = "partly"
    skipped = "skipped"
    missed = "missed"
    nothing_due = "nothing_due"
    upcoming = "upcoming"


class ReportPerson(BaseModel):
    id: uuid.UUID
    display_name: str


class ReportClient(ReportPerson):
    timezone: str


class ReportClinic(BaseModel):
    id: uuid.UUID
    name: str


class CalendarDay(BaseModel):
    date: date
    status: DayStatus = Field(
        description="done: everything due was done; partly: some of it; skipped: nothing done "
        "and something skipped (see `skip_reasons`); missed: nothing done or skipped; "
        "nothing_due (also a day when everything was paused); upcoming: today with work "
        "still open, or a later day."
    )
    scheduled: int
    completed: int
    skipped: int
    missed: int
    paused: int
    pending: int
    skip_reasons: list[str] = Field(description="The reasons given for the day's skips.")


class Band(BaseModel):
    code: str
    label: str
    min: int
    max: int


class ReportMeasurePoint(BaseModel):
    date: date
    total: int
    band: str | None
    band_label: str | None


class RiskMark(BaseModel):
    date: date
    total: int | None = Field(description="The total that day, when the form was complete.")
    flags: list[str] = Field(description="The risk rules that fired (PHQ-9: `self_harm`).")


class ReportMeasure(BaseModel):
    template_id: uuid.UUID
    title: str
    bands: list[Band] = Field(description="The severity bands of the template's scoring.")
    points: list[ReportMeasurePoint] = Field(description="As in the metrics' `measures`.")
    change: int | None
    risk_marks: list[RiskMark] | None = Field(
        description="Completions of this measure whose risk rules fired (PHQ-9 item 9); "
        "null in the client's copy."
    )


class ReportWeek(BaseModel):
    period_start: date
    period_end: date
    scheduled: int
    completed: int
    rate: float | None
    minutes: int = Field(description="Minutes practised (done completions).")
    mood_before: float | None
    mood_after: float | None
    discomfort: float | None = Field(description="As in the metrics' `series`.")


class ReportStep(BaseModel):
    title: str
    done: bool


class ReportGoal(BaseModel):
    id: uuid.UUID
    title: str
    status: GoalStatus
    target_date: date | None
    steps_done: int
    steps_total: int
    step_progress: float | None
    steps: list[ReportStep]


class ReportAchievement(BaseModel):
    title: str
    type: str
    earned_at: datetime


class DiscussItem(BaseModel):
    completion_id: uuid.UUID
    date: date
    title: str
    status: str
    reviewed: bool
    note: str | None = Field(description="The client's note, shortened to 300 characters.")


class ClientReport(BaseModel):
    audience: Audience
    paper: Paper
    generated_at: datetime = Field(description="In the client's time zone.")
    client: ReportClient
    clinic: ReportClinic
    therapists: list[ReportPerson]
    from_date: date = Field(serialization_alias="from")
    to_date: date = Field(serialization_alias="to")
    summary: list[str] = Field(description="What changed, computed from the numbers below.")
    metrics: ClientMetrics = Field(description="Exactly what `/metrics` answers for the window.")
    calendar: list[CalendarDay]
    measures: list[ReportMeasure]
    weeks: list[ReportWeek] = Field(description="The metrics' weekly periods.")
    goals: list[ReportGoal]
    achievements: list[ReportAchievement] = Field(description="Earned in the window.")
    to_discuss: list[DiscussItem] = Field(
        description="Completions of the window the client wants to discuss."
    )
    risk_flagged: int | None = Field(
        description="Completions of the window with a risk flag; null in the client's copy."
    )
    charts: list[ChartName] = Field(description="Each is `?chart=` with `image/svg+xml`.")
