"""Request and response models for assignments."""

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.assignments.models import AssignmentStatus
from app.assignments.schedules import Reminders, Schedule, ScheduleRead
from app.core.schemas import Schema
from app.core.types import NOT_BLANK
from app.templates.definitions import TemplateKind

Title = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NOT_BLANK)
]
Instructions = Annotated[str, StringConstraints(max_length=20000)]
Minutes = Annotated[int, Field(strict=True, ge=1, le=600)]
# A template version's number, as the version routes bound it (a database integer holds it).
VersionNumber = Annotated[int, Field(strict=True, ge=1, le=1_000_000)]


class AssignmentCreate(Schema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "client_id": "01a23b2d-7f92-7aed-b6ae-f63488fda2da",
                    "template_id": "1b75ee88-0224-5881-a334-d78a3849931c",
                    "instructions": "After a difficult moment, fill in one thought record.",
                    "schedule": {
                        "start_date": "2026-12-07",
                        "rrule": "FREQ=DAILY;BYDAY=MO,WE,FR",
                        "times": ["19:00"],
                        "timezone": "Europe/Berlin",
                    },
                }
            ]
        }
    )

    client_id: uuid.UUID
    template_id: uuid.UUID
    template_version: VersionNumber | None = Field(
        default=None, description="Pin this version; the latest when absent."
    )
    title: Title | None = Field(default=None, description="The template's title when absent.")
    instructions: Instructions = Field(
        default="", description="The therapist's tailoring for this client (markdown)."
    )
    estimated_minutes: Minutes | None = Field(
        default=None, description="The template's estimate when absent."
    )
    goal_id: uuid.UUID | None = Field(default=None, description="A goal of the same client.")
    schedule: Schedule
    reminders: Reminders = Field(default_factory=Reminders)


class AssignmentUpdate(Schema):
    title: Title | None = None
    instructions: Instructions | None = None
    estimated_minutes: Minutes | None = None
    goal_id: uuid.UUID | None = Field(default=None, description="Link to a goal; null unlinks.")
    schedule: Schedule | None = Field(
        default=None, description="Applies from now on; past occurrences keep their schedule."
    )
    reminders: Reminders | None = None
    status: AssignmentStatus | None = Field(
        default=None,
        description="active ⇄ paused, then completed or cancelled (final). Others answer 409.",
    )


class AssignmentRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "01a23b2d-8713-75ce-bbf5-be30d03240b3",
                    "clinic_id": "01a23b2d-7f7e-7c58-b97b-5ba9f7df41ee",
                    "client_id": "01a23b2d-7f92-7aed-b6ae-f63488fda2da",
                    "template_id": "1b75ee88-0224-5881-a334-d78a3849931c",
                    "template_version": 1,
                    "template_kind": "cbt_worksheet",
                    "title": "Thought record",
                    "instructions": "After a difficult moment, fill in one thought record.",
                    "goal_id": None,
                    "estimated_minutes": 15,
                    "schedule": {
                        "start_date": "2026-12-07",
                        "end_date": None,
                        "count": None,
                        "rrule": "FREQ=DAILY;BYDAY=MO,WE,FR",
                        "times": ["19:00"],
                        "timezone": "Europe/Berlin",
                    },
                    "reminders": {"minutes_before": [], "untimed_at": None},
                    "status": "active",
                    "created_by_id": "01a23b2d-7f8b-737c-9e63-b75ceba94a5f",
                    "next_occurrence_at": "2026-12-07T18:00:00Z",
                    "next_reminder_at": None,
                    "created_at": "2026-12-03T09:12:49.171800Z",
                    "updated_at": "2026-12-03T09:12:49.171800Z",
                    "version": 1,
                }
            ]
        }
    )

    id: uuid.UUID
    clinic_id: uuid.UUID
    client_id: uuid.UUID
    template_id: uuid.UUID
    template_version: int
    template_kind: TemplateKind
    title: str
    instructions: str
    goal_id: uuid.UUID | None
    estimated_minutes: int
    schedule: ScheduleRead
    reminders: Reminders
    status: AssignmentStatus
    created_by_id: uuid.UUID | None
    next_occurrence_at: datetime | None = Field(
        description="When the next occurrence is due (UTC); null when none is left."
    )
    next_reminder_at: datetime | None = Field(
        description="When the next reminder falls (UTC), for scheduling local notifications."
    )
    created_at: datetime
    updated_at: datetime
    version: int
