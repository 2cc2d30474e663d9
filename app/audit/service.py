"""Reading the clinic's audit trail, newest first, with its filters."""

import uuid
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.schemas import Action, AuditEventRead
from app.auth.principal import Principal
from app.core.audit import AuditEvent
from app.core.pagination import ListParams, Page, SortKey, paginate_rows


def matching_audit_events(
    principal: Principal,
    *,
    client_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
    action: Action | None = None,
    occurred_from: datetime | None = None,
    occurred_to: datetime | None = None,
) -> Select[AuditEvent]:
    """The clinic's audit events that match every filter given (None: no filter);
    `occurred_from` is inclusive, `occurred_to` exclusive."""
    stmt = select(AuditEvent).where(AuditEvent.clinic_id == principal.clinic_id)
    for column, value in (
        (AuditEvent.client_id, client_id),
        (AuditEvent.actor_id, actor_id),
        (AuditEvent.action, action),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if occurred_from is not None:
        stmt = stmt.where(AuditEvent.occurred_at >= occurred_from)
    if occurred_to is not None:
        stmt = stmt.where(AuditEvent.occurred_at < occurred_to)
    return stmt


async def list_audit_events(
    session: AsyncSession,
    principal: Principal,
    params: ListParams,
    *,
    client_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
    action: Action | None = None,
    occurred_from: datetime | None = None,
    occurred_to: datetime | None = None,
) -> Page[AuditEventRead]:
    """Audit rows never change, so `updated_since` filters by when they were written: the
    later of it and `occurred_from` wins."""
    since = max(filter(None, (occurred_from, params.updated_since)), default=None)
    stmt = matching_audit_events(
        principal,
        client_id=client_id,
        actor_id=actor_id,
        action=action,
        occurred_from=since,
        occurred_to=occurred_to,
    )
    rows, cursor = await paginate_rows(
        session, stmt, params, [SortKey(AuditEvent.id, descending=True)]
    )
    return Page(items=[AuditEventRead.model_validate(r) for r in rows], next_cursor=cursor)
