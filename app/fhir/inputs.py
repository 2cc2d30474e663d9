"""Shapes of the plain dicts the FHIR mapping reads: the API's JSON for one client's record.

Timestamps are RFC 3339 strings with an offset (`2026-11-20T08:05:00+00:00`) and dates are
`YYYY-MM-DD`; `datetime` and `date` objects are accepted too, so a caller may pass either
`model_dump(mode="json")` or plain `model_dump()`. Extra keys are ignored.
"""

from datetime import date, datetime
from typing import Any, Literal, NotRequired, TypedDict

Timestamp = str | datetime
Day = str | date


class ClinicInput(TypedDict):
    id: str
    name: str


class ExternalId(TypedDict):
    system: str
    value: str


class ClientInput(TypedDict):
    id: str
    email: str | None
    display_name: str | None
    timezone: str | None
    status: Literal["invited", "active", "deactivated"]
    external_ids: list[ExternalId]
    created_at: Timestamp
    updated_at: Timestamp


class TherapistInput(TypedDict):
    id: str
    display_name: str | None
    email: str | None


class ScheduleInput(TypedDict):
    start_date: Day
    end_date: Day | None
    count: int | None
    rrule: str | None
    times: list[str]
    timezone: str | None


class AssignmentInput(TypedDict):
    id: str
    template_id: str
    template_version: int
    template_kind: str
    title: str
    instructions: str
    status: Literal["active", "paused", "completed", "cancelled"]
    goal_id: str | None
    schedule: ScheduleInput
    created_at: Timestamp
    updated_at: Timestamp


class TemplateVersionInput(TypedDict):
    template_id: str
    version: int
    slug: str
    kind: str
    title: str
    description: str
    instructions: str
    # Field definitions exactly as `app.templates.fields` serializes them (groups nest).
    fields: list[dict[str, Any]]
    scoring: dict[str, Any] | None
    created_at: Timestamp


class ScoreInput(TypedDict):
    total: int | None
    band: str | None
    band_label: str | None
    risk: bool
    risk_flags: list[str]
    missing_items: list[str]
    complete: bool


class CompletionInput(TypedDict):
    id: str
    assignment_id: str
    template_id: str
    template_version: int
    status: Literal["done", "skipped"]
    completed_at: Timestamp
    occurrence_date: Day
    responses: dict[str, Any]
    score: ScoreInput | None
    skip_reason: NotRequired[str | None]
    note: NotRequired[str | None]
    updated_at: Timestamp


class StepInput(TypedDict):
    id: str
    title: str
    done: bool
    done_at: Timestamp | None
    position: int


class GoalInput(TypedDict):
    id: str
    title: str
    description: str
    why: str
    target_date: Day | None
    status: Literal["active", "achieved", "abandoned"]
    steps: list[StepInput]
    created_at: Timestamp
    updated_at: Timestamp


class AdherenceInput(TypedDict):
    period_start: Day
    period_end: Day
    scheduled: int
    completed: int
    # A fraction (completed / scheduled occurrences), 0.0 to 1.0; None when nothing was due.
    rate: float | None


class EverythingInput(TypedDict):
    clinic: ClinicInput
    client: ClientInput
    therapists: list[TherapistInput]
    assignments: list[AssignmentInput]
    template_versions: list[TemplateVersionInput]
    completions: list[CompletionInput]
    goals: list[GoalInput]
    adherence: list[AdherenceInput]
    # Resources made at export time (the progress report's DocumentReference), added as given.
    documents: NotRequired[list[dict[str, Any]]]
    # Absolute URL of the FHIR endpoints, e.g. "https://api.example/v1/fhir"; no trailing slash
    # is needed.
    base_url: str
    # Keep only resources whose source changed at or after this instant (Patient always kept).
    since: NotRequired[Timestamp | None]
