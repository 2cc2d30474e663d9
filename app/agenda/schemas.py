"""The agenda: a client's occurrences day by day, with what became of each."""

import enum
import uuid
from datetime import date, datetime

from pydantic import BaseModel, Field

from app.templates.definitions import TemplateKind


class OccurrenceStatus(enum.StrEnum):
    upcoming = "upcoming"
    due = "due"
    completed = "completed"
    skipped = "skipped"
    missed = "missed"


class AgendaItem(BaseModel):
    assignment_id: uuid.UUID
    title: str
    template_id: uuid.UUID
    template_kind: TemplateKind
    estimated_minutes: int
    local_date: date = Field(description="The day in the schedule's time zone.")
    local_time: str | None = Field(
        description="HH:MM wall-clock time; null means any time that day."
    )
    timezone: str
    due_at: datetime = Field(description="UTC instant; for untimed occurrences the day's end.")
    status: OccurrenceStatus
    completion_id: uuid.UUID | None = None


class Agenda(BaseModel):
    client_id: uuid.UUID
    timezone: str = Field(description="The client's own time zone.")
    from_date: date = Field(alias="from", serialization_alias="from")
    to_date: date = Field(alias="to", serialization_alias="to")
    items: list[AgendaItem]

    model_config = {
        "populate_by_name": True,
        "json_schema_extra": {
            "examples": [
                {
                    "client_id": "01a23b2d-7f92-7aed-b6ae-f63488fda2da",
                    "timezone": "America/New_York",
                    "from": "2026-12-03",
                    "to": "2026-12-09",
                    "items": [
                        {
                            "assignment_id": "01a23b2d-80a9-70f0-a28f-03a3acf10757",
                            "title": "Breathing exercise",
                            "template_id": "d97dbb45-b11d-54e6-9f21-817a105ae9d8",
                            "template_kind": "mindfulness",
                            "estimated_minutes": 5,
                            "local_date": "2026-12-03",
                            "local_time": "08:00",
                            "timezone": "America/New_York",
                            "due_at": "2026-12-03T13:00:00Z",
                            "status": "due",
                            "completion_id": None,
                        }
                    ],
                }
            ]
        },
    }
