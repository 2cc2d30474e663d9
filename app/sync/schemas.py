"""The change feed's events, and webhooks with their deliveries."""

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from app.core.schemas import Schema

EventType = Annotated[str, StringConstraints(pattern=r"^[a-z_]+\.[a-z_]+$", max_length=64)]


class EventRead(BaseModel):
    id: uuid.UUID
    sequence: int = Field(description="Grows by commit order: poll with `cursor` and miss nothing.")
    type: str = Field(examples=["completion.created"])
    resource_type: str
    resource_id: uuid.UUID
    client_id: uuid.UUID | None
    clinic_id: uuid.UUID
    occurred_at: datetime
    data: dict[str, Any] = Field(
        description="The resource as the API returns it; a tombstone "
        "`{id, deleted: true}` for deletions."
    )


class ChangePage(BaseModel):
    items: list[EventRead]
    next_cursor: str = Field(description="Pass back as `cursor`; it stays put when nothing is new.")


class WebhookCreate(Schema):
    url: str = Field(min_length=8, max_length=2000, examples=["https://ehr.example/hooks/homework"])
    event_types: list[EventType] = Field(
        min_length=1, max_length=50, description="Event types to send; `*` is not accepted."
    )
    active: StrictBool = True


class WebhookUpdate(Schema):
    url: str | None = Field(default=None, min_length=8, max_length=2000)
    event_types: list[EventType] | None = Field(default=None, min_length=1, max_length=50)
    active: StrictBool | None = Field(
        default=None, description="Re-activating resets the failure count."
    )


class WebhookRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    clinic_id: uuid.UUID
    url: str
    event_types: list[str]
    active: bool
    consecutive_failures: int
    disabled_at: datetime | None = Field(description="Set when repeated failures disabled it.")
    created_at: datetime
    updated_at: datetime
    version: int


class WebhookCreated(WebhookRead):
    secret: str = Field(description="Signing secret, shown only in this answer.")


class DeliveryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    webhook_id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    status: str = Field(description="pending, succeeded or failed.")
    attempts: int
    last_status_code: int | None
    last_error: str | None
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    created_at: datetime
