"""Request and response models of the identity domain."""

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from app.auth.models import Role, UserStatus
from app.auth.passwords import MAX_LENGTH, MIN_LENGTH
from app.auth.principal import Scope
from app.core.errors import ValidationErrorItem
from app.core.schemas import Schema
from app.core.types import Name, TimeZoneName


class TokenResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIwMWEy...",
                    "token_type": "bearer",
                    "expires_in": 900,
                    "refresh_token": "rt_3q2mZC8vYk1b2p0Hc0m5r9xQe7uJfL4a",
                    "scope": "fhir:read homework:read homework:write",
                }
            ]
        }
    )

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires.")
    refresh_token: str | None = Field(
        default=None, description="Only for password and refresh_token grants; rotates on use."
    )
    scope: str


OAuthErrorCode = Literal[
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
]


class OAuthError(BaseModel):
    """An error of the OAuth2 endpoints: the RFC 6749 §5.2 body (`error`,
    `error_description`) and, in the same object, the RFC 9457 problem members. Sent as
    `application/json`, as RFC 6749 asks."""

    error: OAuthErrorCode = Field(
        description="RFC 6749 §5.2: `invalid_grant` for a wrong password or a refresh token "
        "that is unknown, spent, revoked or expired; `invalid_client` (401) when client "
        "authentication fails; `invalid_request` for a missing or malformed parameter or a "
        "body that is not `application/x-www-form-urlencoded` (415)."
    )
    error_description: str
    type: str = Field(examples=["urn:homework:problem:invalid-grant"])
    title: str
    status: int
    detail: str = Field(description="The same text as `error_description`.")
    instance: str | None = None
    request_id: str | None = None
    errors: list[ValidationErrorItem] | None = Field(
        default=None, description="For a malformed parameter: each one, as in a 422 problem."
    )


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    clinic_id: uuid.UUID
    role: Role
    email: str
    display_name: str
    timezone: str
    status: UserStatus
    created_at: datetime
    updated_at: datetime
    version: int


class MeUpdate(Schema):
    display_name: Name | None = None
    timezone: TimeZoneName | None = None


class PasswordChange(Schema):
    current_password: str = Field(min_length=1, max_length=128)
    # The policy's bounds, so that the contract states them (the policy still checks them).
    new_password: str = Field(min_length=MIN_LENGTH, max_length=MAX_LENGTH)


class StaffCreate(Schema):
    email: EmailStr = Field(max_length=320)
    display_name: Name
    role: Literal[Role.admin, Role.therapist]
    timezone: TimeZoneName | None = None


class StaffUpdate(Schema):
    display_name: Name | None = None
    timezone: TimeZoneName | None = None
    status: Literal[UserStatus.active, UserStatus.deactivated] | None = Field(
        default=None, description="Deactivate (or reactivate) a staff account."
    )


class InvitationRead(BaseModel):
    code: str = Field(description="One-time code, shown only in this answer.")
    expires_at: datetime


class StaffCreated(UserRead):
    invitation: InvitationRead


class InvitationAccept(Schema):
    code: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=MIN_LENGTH, max_length=MAX_LENGTH)


class ApiClientCreate(Schema):
    name: Name
    scopes: list[Scope] = Field(min_length=1, max_length=len(Scope))


class ApiClientRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID = Field(description="Also the OAuth2 `client_id`.")
    clinic_id: uuid.UUID
    name: str
    scopes: list[Scope]
    revoked_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int


class ApiClientCreated(ApiClientRead):
    client_secret: str = Field(description="Shown only in this answer; stored hashed.")


class Jwks(BaseModel):
    keys: list[dict[str, str]]
