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
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "0b7f3c1e-5d2a-4c8e-9f61-2a4d8e6b1c90",
                    "completed_at": "2026-12-03T19:42:00Z",
                    "status": "done",
                    "responses": {
                        "situation": "Sent my manager the report on Friday. No reply by Monday.",
                        "automatic_thoughts": "She thinks it's bad. I'll be taken off the project.",
                        "emotions": [{"emotion": "Anxious", "intensity": 80}],
                        "evidence_for": "Last month she asked me to redo one section.",
                        "evidence_against": "She was on leave Monday and thanked me for the last two.",
                        "balanced_thought": "She hasn't read it yet; changes would be normal.",
                        "intensity_after": 35,
                    },
                    "mood_before": 3,
                    "mood_after": 6,
                    "duration_minutes": 15,
                    "wants_to_discuss": True,
                },
                {
                    "id": "6c2e8a4f-1b3d-4e5a-8c7f-9d0e1f2a3b4c",
                    "completed_at": "2026-12-03T21:05:00Z",
                    "status": "skipped",
                    "skip_reason": "no_time",
                },
            ]
        }
    )

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
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "assignment_id": "01a23b2d-7fdd-7663-b141-2495a9fbfe4a",
                    "id": "6c2e8a4f-1b3d-4e5a-8c7f-9d0e1f2a3b4c",
                    "completed_at": "2026-12-03T21:05:00Z",
                    "status": "skipped",
                    "skip_reason": "no_time",
                }
            ]
        }
    )

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
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "6c2e8a4f-1b3d-4e5a-8c7f-9d0e1f2a3b4c",
                    "clinic_id": "01a23b2d-7f7e-7c58-b97b-5ba9f7df41ee",
                    "client_id": "01a23b2d-7f92-7aed-b6ae-f63488fda2da",
                    "assignment_id": "01a23b2d-7fdd-7663-b141-2495a9fbfe4a",
                    "template_id": "1b75ee88-0224-5881-a334-d78a3849931c",
                    "template_version": 1,
                    "template_kind": "cbt_worksheet",
                    "occurrence_date": "2026-12-03",
                    "occurrence_time": None,
                    "status": "skipped",
                    "completed_at": "2026-12-03T21:05:00Z",
                    "responses": {},
                    "mood_before": None,
                    "mood_after": None,
                    "discomfort": None,
                    "duration_minutes": None,
                    "note": None,
                    "wants_to_discuss": False,
                    "skip_reason": "no_time",
                    "skip_note": None,
                    "score": None,
                    "reviewed_at": None,
                    "reviewed_by_id": None,
                    "recorded_by_id": None,
                    "created_at": "2026-12-03T21:05:02.339640Z",
                    "updated_at": "2026-12-03T21:05:02.339640Z",
                    "version": 1,
                }
            ]
        }
    )

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
