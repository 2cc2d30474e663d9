"""Request and response models for therapy groups, their members, homework and shared items."""

import uuid
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    model_validator,
)
from pydantic_core import PydanticCustomError

from app.assignments.schedules import Reminders, Schedule
from app.assignments.schemas import Instructions, Minutes, Title, VersionNumber
from app.core.schemas import Schema, raise_field_errors
from app.core.types import NOT_BLANK, CalendarDate
from app.groups.models import GroupAssignmentStatus, GroupStatus, HiddenReason, ShareKind
from app.metrics.schemas import AdherenceCounts

Description = Annotated[str, StringConstraints(max_length=5000)]
DisplayName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60, pattern=NOT_BLANK)
]


def _each_once(ids: list[uuid.UUID]) -> list[uuid.UUID]:
    if len(set(ids)) != len(ids):
        raise PydanticCustomError("duplicate", "Name each facilitator once")
    return ids


FacilitatorIds = Annotated[
    list[uuid.UUID],
    Field(max_length=20, json_schema_extra={"uniqueItems": True}),
    AfterValidator(_each_once),
]
MAX_SHARED_FIELDS = 20


class GroupCreate(Schema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "DBT skills, Tuesday evening",
                    "description": "Eight weeks of distress tolerance and emotion regulation.",
                    "facilitator_ids": ["01a23b2d-7f92-7aed-b6ae-f63488fda2da"],
                }
            ]
        }
    )

    name: Title
    description: Description = ""
    facilitator_ids: FacilitatorIds = Field(
        default=[],
        description="Therapists of the clinic who run the group; a therapist creating it is "
        "always one.",
    )


class GroupUpdate(Schema):
    name: Title | None = None
    description: Description | None = None
    facilitator_ids: FacilitatorIds | None = Field(
        default=None,
        description="Replaces the facilitators; at least one stays, and a therapist making "
        "the change stays one.",
    )
    status: GroupStatus | None = Field(
        default=None, description="`archived` ends the group's homework and every membership."
    )


class GroupRead(BaseModel):
    id: uuid.UUID
    clinic_id: uuid.UUID
    name: str
    description: str
    status: GroupStatus
    facilitator_ids: list[uuid.UUID]
    created_at: datetime
    updated_at: datetime
    version: int


class MemberAdd(Schema):
    client_id: uuid.UUID
    joined_on: CalendarDate | None = Field(
        default=None,
        description="The member's first day, in their time zone: today (the default) or later. "
        "The group's current homework starts for them that day.",
    )
    display_name: DisplayName | None = Field(
        default=None,
        description="The name other members see beside what this member shares; the member "
        "may choose it themself later. Nothing can be shared until there is one.",
    )


class MemberUpdate(Schema):
    display_name: DisplayName


class MembershipRead(BaseModel):
    """One stint in the group: a member on the days from `joined_on` up to, not including,
    `left_on`. A client sees only their own."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    group_id: uuid.UUID
    clinic_id: uuid.UUID
    client_id: uuid.UUID
    display_name: str | None
    joined_on: date
    left_on: date | None = Field(description="Null while a member.")
    created_at: datetime
    updated_at: datetime


class GroupAssignmentCreate(Schema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "template_id": "1b75ee88-0224-5881-a334-d78a3849931c",
                    "instructions": "Practise the breathing exercise before each group session.",
                    "schedule": {
                        "start_date": "2026-12-07",
                        "end_date": "2027-01-31",
                        "rrule": "FREQ=WEEKLY;BYDAY=TU",
                        "times": ["18:00"],
                    },
                }
            ]
        }
    )

    template_id: uuid.UUID
    template_version: VersionNumber | None = Field(
        default=None, description="Pin this version; the latest when absent."
    )
    title: Title | None = Field(default=None, description="The template's title when absent.")
    instructions: Instructions = ""
    estimated_minutes: Minutes | None = None
    schedule: Schedule = Field(
        description="Without `timezone`, each member's dates and times are in their own zone. "
        "A member joining later starts on their join date; with `count`, they get the "
        "occurrences the group has left."
    )
    reminders: Reminders = Field(default_factory=Reminders)


class GroupAssignmentUpdate(Schema):
    status: GroupAssignmentStatus = Field(
        description="`ended`: every member's assignment of it is cancelled (done work stays)."
    )


class MemberAssignment(BaseModel):
    client_id: uuid.UUID
    assignment_id: uuid.UUID


class GroupAssignmentRead(BaseModel):
    id: uuid.UUID
    group_id: uuid.UUID
    clinic_id: uuid.UUID
    template_id: uuid.UUID
    template_version: int
    title: str | None
    instructions: str
    estimated_minutes: int | None
    schedule: dict[str, Any]
    reminders: dict[str, Any]
    status: GroupAssignmentStatus
    ended_at: datetime | None
    member_assignments: list[MemberAssignment] = Field(
        description="Each member's own assignment of it (members who joined later included)."
    )
    created_at: datetime
    updated_at: datetime
    version: int


class MemberAdherence(BaseModel):
    client_id: uuid.UUID
    display_name: str | None
    current: bool = Field(description="Still a member.")
    adherence: AdherenceCounts


class GroupMetrics(BaseModel):
    """Adherence to the group's homework: counts only, never answers."""

    group_id: uuid.UUID
    days: int = Field(description="The window: the last `days` local days, today included.")
    group: AdherenceCounts
    members: list[MemberAdherence]


class ShareCreate(Schema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "completion_id": "6c2e8a4f-1b3d-4e5a-8c7f-9d0e1f2a3b4c",
                    "fields": ["what_went_well", "note"],
                }
            ]
        }
    )

    completion_id: uuid.UUID | None = Field(
        default=None, description="One of your completions (give this or `achievement_id`)."
    )
    fields: Annotated[
        list[Annotated[str, StringConstraints(min_length=1, max_length=64)]],
        Field(max_length=MAX_SHARED_FIELDS, json_schema_extra={"uniqueItems": True}),
    ] = Field(
        default=[],
        description="With `completion_id`: the written answers to show (their field names), "
        "and `note` for the completion's note. Only text can be shared, never scores.",
    )
    achievement_id: uuid.UUID | None = Field(default=None, description="One of your achievements.")

    @model_validator(mode="after")
    def _one_thing(self) -> "ShareCreate":
        errors: list[tuple[tuple[str | int, ...], str, str]] = []
        if (self.completion_id is None) == (self.achievement_id is None):
            errors.append(
                (("completion_id",), "Give a completion_id or an achievement_id", "one_of")
            )
        elif self.completion_id is not None and not self.fields:
            errors.append((("fields",), "Choose at least one field to share", "too_short"))
        elif self.achievement_id is not None and self.fields:
            errors.append((("fields",), "An achievement is shared whole: send no fields", "extra"))
        if len(set(self.fields)) != len(self.fields):
            errors.append((("fields",), "Name each field once", "duplicate"))
        raise_field_errors("ShareCreate", errors)
        return self


class ShareModeration(Schema):
    hidden: StrictBool = Field(description="Hide from members, or show again.")


class ShareRead(BaseModel):
    """An item a member shared, under the name they chose for the group. Members see the shown
    items only; `mine` marks their own (which they may withdraw)."""

    id: uuid.UUID
    group_id: uuid.UUID
    display_name: str | None
    kind: ShareKind
    content: dict[str, Any] = Field(
        description="Completion: `{fields: {name: text}}`; achievement: `{title, earned_at}`."
    )
    mine: bool
    hidden: bool
    hidden_reason: HiddenReason | None = Field(
        description="Shown to facilitators: `held_for_review` until one looks at an item shared "
        "from a completion that raised a risk flag."
    )
    created_at: datetime
