"""Request and response models for programs, their steps and rules, and enrolments."""

import uuid
from datetime import date, datetime, timedelta
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from app.assignments.schedules import MAX_COUNT, LocalTime, Reminders, Schedule, ScheduleRead
from app.assignments.schemas import Instructions, Minutes, Title, VersionNumber
from app.core.schemas import Schema, raise_field_errors
from app.core.types import NOT_BLANK, CalendarDate
from app.programs.models import EnrolmentStatus, ProgramSource, StepState

Slug = Annotated[
    str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$"), Field(examples=["low-mood"])
]
Description = Annotated[str, StringConstraints(max_length=4000)]
MAX_STEPS = 50
MAX_STEP_DAYS = 366
# Any Monday: a step's schedule is checked as an assignment's starting that day.
_CHECK_START = date(2026, 1, 5)


def _raise(errors: list[tuple[tuple[str | int, ...], str, str]]) -> None:
    raise_field_errors("ProgramStep", errors)


class StepSchedule(Schema):
    """An assignment's schedule without dates: it starts on the day the step is released, in
    the client's time zone, and runs for `days` days, `count` dates or the rule's COUNT."""

    rrule: str | None = Field(
        default=None,
        max_length=500,
        examples=["FREQ=DAILY"],
        description="RFC 5545 RRULE value as an assignment takes it; absent means one "
        "occurrence on the release day.",
    )
    count: Annotated[int, Field(strict=True, ge=1, le=MAX_COUNT)] | None = None
    days: Annotated[int, Field(strict=True, ge=1, le=MAX_STEP_DAYS)] | None = Field(
        default=None, description="How many days from its release day the schedule runs."
    )
    times: Annotated[
        list[LocalTime], Field(max_length=24, json_schema_extra={"uniqueItems": True})
    ] = Field(default=[], description="Local HH:MM times; empty means any time that day.")

    @model_validator(mode="after")
    def _as_an_assignment_schedule(self) -> "StepSchedule":
        """The assignment schedule's own rules (RRULE subset, one bound, unique times)."""
        try:
            checked = self.starting(_CHECK_START, "UTC")
        except ValidationError as exc:
            renamed = {"end_date": "days"}
            _raise(
                [
                    (
                        tuple(renamed.get(str(p), p) for p in e["loc"]),
                        str(e["msg"]),
                        str(e["type"]),
                    )
                    for e in exc.errors()
                ]
            )
            raise  # pragma: no cover (_raise raised)
        self.rrule, self.times = checked.rrule, checked.times
        return self

    def starting(self, day: date, timezone: str) -> ScheduleRead:
        """The assignment schedule of a step released on local `day`."""
        return Schedule.model_validate(
            {
                "start_date": day,
                "end_date": day + timedelta(days=self.days - 1) if self.days else None,
                "count": self.count,
                "rrule": self.rrule,
                "times": self.times,
            }
        ).resolved(timezone)

    def is_finite(self) -> bool:
        if self.days or self.count or not self.rrule:
            return True
        parts = Schedule.model_validate(
            {"start_date": _CHECK_START, "rrule": self.rrule}
        ).rule_parts()
        return parts is not None and (parts.count is not None or parts.until is not None)


class Immediately(Schema):
    type: Literal["immediately"]


class AfterPreviousCompleted(Schema):
    type: Literal["after_previous_completed"]


class DaysAfterPreviousCompleted(Schema):
    type: Literal["days_after_previous_completed"]
    days: Annotated[int, Field(strict=True, ge=1, le=365)]


class OnEnrolmentDay(Schema):
    type: Literal["on_enrolment_day"]
    day: Annotated[int, Field(strict=True, ge=1, le=MAX_STEP_DAYS * 2)] = Field(
        description="Day 1 is the enrolment's first day, in the client's local days."
    )


class OnDate(Schema):
    type: Literal["on_date"]
    date: CalendarDate = Field(description="A local date of the client's.")


ReleaseRule = Annotated[
    Immediately | AfterPreviousCompleted | DaysAfterPreviousCompleted | OnEnrolmentDay | OnDate,
    Field(discriminator="type"),
]
FOLLOWS_PREVIOUS = ("after_previous_completed", "days_after_previous_completed")


class LastOccurrence(Schema):
    type: Literal["last_occurrence"]


class Completions(Schema):
    type: Literal["completions"]
    count: Annotated[int, Field(strict=True, ge=1, le=MAX_COUNT)]


CompletedWhen = Annotated[LastOccurrence | Completions, Field(discriminator="type")]


class ProgramStep(Schema):
    """One step: a template given as an assignment when the step is released."""

    template_id: uuid.UUID
    template_version: VersionNumber | None = Field(
        default=None,
        description="Pin this template version; absent: the latest when the program version "
        "is published (each program version pins one).",
    )
    title: Title | None = Field(default=None, description="The template's title when absent.")
    instructions: Instructions = ""
    estimated_minutes: Minutes | None = None
    schedule: StepSchedule
    reminders: Reminders = Field(default_factory=Reminders)
    release: ReleaseRule = Field(
        description="When the step's assignment is given: `immediately` (at enrolment), "
        "`after_previous_completed`, `days_after_previous_completed` (`days` local days "
        "later), `on_enrolment_day` (`day`, 1 = the first), `on_date` (`date`)."
    )
    completed_when: CompletedWhen = Field(
        default_factory=lambda: LastOccurrence(type="last_occurrence"),
        description="What completes the step (what `after_previous_completed` of the next "
        "step waits for): its assignment's `last_occurrence` done, or `completions` done "
        "completions (`count`).",
    )
    optional: Annotated[bool, Field(strict=True)] = Field(
        default=False,
        description="The enrolment completes without it, and it may be skipped.",
    )
    ends_when_next_starts: Annotated[bool, Field(strict=True)] = Field(
        default=False, description="Its assignment ends when the next step is released."
    )


class StoredStep(ProgramStep):
    """A step as a published version holds it: template version and title are resolved."""

    template_version: int
    title: str


def step_errors(steps: list[ProgramStep]) -> list[tuple[tuple[str | int, ...], str, str]]:
    errors: list[tuple[tuple[str | int, ...], str, str]] = []
    if steps and steps[0].release.type in FOLLOWS_PREVIOUS:
        errors.append(
            (("steps", 0, "release", "type"), "The first step has no previous step", "no_previous")
        )
    if steps and steps[-1].ends_when_next_starts:
        errors.append(
            (
                ("steps", len(steps) - 1, "ends_when_next_starts"),
                "The last step has no next step",
                "no_next",
            )
        )
    if steps and all(s.optional for s in steps):
        errors.append((("steps",), "At least one step must not be optional", "all_optional"))
    for i, step in enumerate(steps):
        if step.completed_when.type == "last_occurrence" and not step.schedule.is_finite():
            errors.append(
                (
                    ("steps", i, "completed_when"),
                    "An open-ended schedule has no last occurrence: bound it (days, count, "
                    "COUNT or UNTIL) or complete the step after a number of completions",
                    "open_ended",
                )
            )
    return errors


Steps = Annotated[list[ProgramStep], Field(min_length=1, max_length=MAX_STEPS)]
ProgramTitle = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NOT_BLANK)
]


class ProgramPatch(Schema):
    title: ProgramTitle | None = None
    description: Description | None = None
    steps: Steps | None = None

    @model_validator(mode="after")
    def _steps_fit_together(self) -> "ProgramPatch":
        if self.steps is not None:
            _raise(step_errors(self.steps))
        return self


class ProgramCreate(ProgramPatch):
    """A clinic program from scratch (`title` and `steps`), or a clone of a visible program's
    latest version (`based_on`) with the fields sent replacing its own."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "slug": "sleep-reset",
                    "title": "Sleep reset, two weeks",
                    "steps": [
                        {
                            "template_id": "1b75ee88-0224-5881-a334-d78a3849931c",
                            "schedule": {"rrule": "FREQ=DAILY", "days": 7, "times": ["21:00"]},
                            "release": {"type": "immediately"},
                        },
                        {
                            "template_id": "1b75ee88-0224-5881-a334-d78a3849931c",
                            "schedule": {"rrule": "FREQ=DAILY", "days": 7},
                            "release": {"type": "after_previous_completed"},
                        },
                    ],
                }
            ]
        }
    )

    slug: Slug
    based_on: uuid.UUID | None = Field(
        default=None, description="Clone this visible program's latest version."
    )


class ProgramUpdate(ProgramPatch):
    """Publish a new version: send what changes. Enrolments keep the version they have."""


class ProgramStepRead(BaseModel):
    position: int = Field(description="1 for the first step.")
    template_id: uuid.UUID
    template_version: int
    title: str
    instructions: str
    estimated_minutes: int | None
    schedule: StepSchedule
    reminders: Reminders
    release: ReleaseRule
    completed_when: CompletedWhen
    optional: bool
    ends_when_next_starts: bool


class ProgramSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    slug: str
    source: ProgramSource
    title: str
    version: int = Field(description="The latest published version; enrolments pin one.")
    clinic_id: uuid.UUID | None = Field(description="Null for built-in programs.")
    based_on_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


class ProgramRead(ProgramSummary):
    description: str
    steps: list[ProgramStepRead]


class ProgramVersionRead(BaseModel):
    program_id: uuid.UUID
    version: int
    title: str
    description: str
    steps: list[ProgramStepRead]
    created_at: datetime


class EnrolmentCreate(Schema):
    client_id: uuid.UUID
    start_date: CalendarDate | None = Field(
        default=None,
        description="Day 1 of the enrolment, a local date of the client's: today (the "
        "default) or later.",
    )


class EnrolmentUpdate(Schema):
    status: Literal[EnrolmentStatus.active, EnrolmentStatus.paused, EnrolmentStatus.ended] = Field(
        description="active ⇄ paused (pauses or resumes the released steps' assignments), "
        "or ended (final: ends them)."
    )


class EnrolmentStepRead(BaseModel):
    position: int
    title: str
    template_id: uuid.UUID
    template_version: int
    optional: bool
    state: StepState
    release: ReleaseRule
    completed_when: CompletedWhen
    assignment_id: uuid.UUID | None = Field(description="Set once the step is released.")
    released_at: datetime | None
    finished_at: datetime | None = Field(description="When it was completed or skipped.")
    completions_done: int = Field(description="Done completions of its assignment so far.")
    releases_at: datetime | None = Field(
        description="A locked step's release instant when it is already known (time-based "
        "rules, or `days_after_previous_completed` once the previous step is done)."
    )


class NextRelease(BaseModel):
    position: int
    releases_at: datetime | None = Field(description="Null: it waits for a completion.")
    waiting_for: str = Field(examples=["step 1 completed (3 done completions; 1 so far)"])


class EnrolmentRead(BaseModel):
    id: uuid.UUID
    clinic_id: uuid.UUID
    client_id: uuid.UUID
    program_id: uuid.UUID
    program_version: int
    title: str
    status: EnrolmentStatus
    timezone: str
    started_on: date
    completed_at: datetime | None
    ended_at: datetime | None
    created_by_id: uuid.UUID | None
    steps: list[EnrolmentStepRead]
    next_release: NextRelease | None = Field(
        description="What releases the next locked step; null when none is left."
    )
    created_at: datetime
    updated_at: datetime
    version: int


class StepReleased(BaseModel):
    """The payload of `program.step_released`."""

    id: uuid.UUID = Field(description="The enrolment.")
    clinic_id: uuid.UUID
    client_id: uuid.UUID
    program_id: uuid.UUID
    program_version: int
    position: int
    assignment_id: uuid.UUID
    released_at: datetime
