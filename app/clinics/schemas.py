"""Request and response models for clients, care teams and external ids."""

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from app.auth.models import UserStatus
from app.auth.schemas import InvitationRead
from app.core.schemas import Schema
from app.core.types import Name, TimeZoneName


class ExternalId(Schema):
    system: str = Field(min_length=1, max_length=255, examples=["urn:oid:2.16.840.1.113883.19.5"])
    value: str = Field(min_length=1, max_length=255, examples=["MRN-000123"])


def _one_per_system(ids: list[ExternalId] | None) -> list[ExternalId] | None:
    if ids is not None and len({i.system for i in ids}) != len(ids):
        raise ValueError("at most one external id per system")
    return ids


class ClientCreate(Schema):
    email: EmailStr = Field(max_length=320)
    display_name: Name
    timezone: TimeZoneName | None = Field(
        default=None, description="IANA zone; the clinic's when absent."
    )
    external_ids: list[ExternalId] = Field(default_factory=list, max_length=20)
    therapist_ids: list[uuid.UUID] = Field(
        default_factory=list,
        max_length=20,
        description="Care team. A therapist who creates a client is always on it.",
    )

    _check_ids = field_validator("external_ids")(_one_per_system)


class ClientUpdate(Schema):
    display_name: Name | None = None
    timezone: TimeZoneName | None = None
    external_ids: list[ExternalId] | None = Field(
        default=None, max_length=20, description="Replaces the whole list."
    )
    status: UserStatus | None = Field(
        default=None, description="`deactivated` ends the client's access; `active` restores it."
    )

    _check_ids = field_validator("external_ids")(_one_per_system)


class ClientRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    clinic_id: uuid.UUID
    email: str
    display_name: str
    timezone: str
    status: UserStatus
    external_ids: list[ExternalId]
    therapist_ids: list[uuid.UUID]
    created_at: datetime
    updated_at: datetime
    version: int


class ClientCreated(ClientRead):
    invitation: InvitationRead


class CareTeamMemberRead(BaseModel):
    id: uuid.UUID
    display_name: str
    email: str


class CareTeamRead(BaseModel):
    client_id: uuid.UUID
    therapists: list[CareTeamMemberRead]


class CareTeamUpdate(Schema):
    therapist_ids: list[uuid.UUID] = Field(max_length=20)
