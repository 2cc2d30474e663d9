"""Request and response models for goals, steps and achievements."""

import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from app.completions.models import AchievementType
from app.core.schemas import Schema
from app.core.types import NOT_BLANK, CalendarDate
from app.goals.models import GoalStatus

Title = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NOT_BLANK)
]
LongText = Annotated[str, StringConstraints(max_length=5000)]


class StepCreate(Schema):
    title: Title
    position: Annotated[int, Field(strict=True, ge=0, le=1000)] | None = Field(
        default=None, description="Where to insert (0 = first); at the end when absent."
    )


class StepUpdate(Schema):
    title: Title | None = None
    done: StrictBool | None = None
    position: Annotated[int, Field(strict=True, ge=0, le=1000)] | None = Field(
        default=None, description="Move the step here; the others shift."
    )


class StepRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    title: str
    done: bool
    done_at: datetime | None
    position: int
    created_at: datetime
    updated_at: datetime
    version: int


class GoalCreate(Schema):
    client_id: uuid.UUID | None = Field(
        default=None, description="Required for staff; a client creates goals for themself."
    )
    title: Title
    description: LongText = ""
    why: LongText = Field(default="", description="What reaching it would mean to the client.")
    target_date: CalendarDate | None = None
    steps: list[Title] = Field(
        default_factory=list, max_length=50, description="Step titles, in order."
    )


class GoalUpdate(Schema):
    title: Title | None = None
    description: LongText | None = None
    why: LongText | None = None
    target_date: CalendarDate | None = None
    status: GoalStatus | None = None


class GoalProgress(BaseModel):
    steps_done: int
    steps_total: int
    step_progress: float | None = Field(description="Done steps / steps; null without steps.")
    adherence_30d: float | None = Field(
        description="Completed / scheduled occurrences of linked assignments, last 30 days."
    )


class GoalRead(BaseModel):
    id: uuid.UUID
    clinic_id: uuid.UUID
    client_id: uuid.UUID
    title: str
    description: str
    why: str
    target_date: date | None
    status: GoalStatus
    achieved_at: datetime | None
    steps: list[StepRead]
    assignment_ids: list[uuid.UUID]
    progress: GoalProgress
    created_by_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    version: int


class AchievementRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    type: AchievementType
    title: str
    earned_at: datetime
    refers_to_type: str | None = Field(description="completion, goal, goal_step or template_kind.")
    refers_to_id: uuid.UUID | None
