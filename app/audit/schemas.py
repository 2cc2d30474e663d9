"""Audit events as the audit trail's readers see them."""

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

Action = Literal["create", "read", "update", "delete", "export", "login", "denied"]


class AuditEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    occurred_at: datetime
    actor_id: uuid.UUID | None
    actor_role: str | None
    action: str
    resource_type: str
    resource_id: uuid.UUID | None
    client_id: uuid.UUID | None
    outcome: int
    request_id: str | None
    source_ip: str | None
    user_agent: str | None
