"""Reading the audit trail: who touched which client's data, when, from where, and how."""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from app.auth.policy import ADMINS, AUDIT_READ, Policy
from app.auth.principal import Principal
from app.core.audit import AuditEvent
from app.core.db import SessionDep
from app.core.pagination import ListParamsDep, Page, SortKey, paginate_rows
from app.core.routing import ProblemRoute, problem_responses
from app.core.types import Instant

router = APIRouter(route_class=ProblemRoute, tags=["audit"], responses=problem_responses(401, 403))
AuditReader = Annotated[
    Principal, Depends(Policy(ADMINS, AUDIT_READ, api_clients=True, audit="audit_event"))
]
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


@router.get(
    "/audit-events",
    operation_id="listAuditEvents",
    summary="The clinic's audit trail, newest first",
)
async def list_audit_events(
    session: SessionDep,
    principal: AuditReader,
    params: ListParamsDep,
    client_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
    action: Action | None = None,
    occurred_from: Annotated[Instant | None, Query(alias="from")] = None,
    occurred_to: Annotated[Instant | None, Query(alias="to")] = None,
) -> Page[AuditEventRead]:
    """`updated_since` is accepted like on every list; audit rows never change, so it filters
    by when they were written."""
    stmt = select(AuditEvent).where(AuditEvent.clinic_id == principal.clinic_id)
    for column, value in (
        (AuditEvent.client_id, client_id),
        (AuditEvent.actor_id, actor_id),
        (AuditEvent.action, action),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    since = max(filter(None, (occurred_from, params.updated_since)), default=None)
    if since is not None:
        stmt = stmt.where(AuditEvent.occurred_at >= since)
    if occurred_to is not None:
        stmt = stmt.where(AuditEvent.occurred_at < occurred_to)
    rows, cursor = await paginate_rows(
        session, stmt, params, [SortKey(AuditEvent.id, descending=True)]
    )
    return Page(items=[AuditEventRead.model_validate(r) for r in rows], next_cursor=cursor)
