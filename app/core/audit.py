"""The audit trail: who touched which record, when, from where, and the outcome. No PHI.

Every audited request leaves exactly one row. A request that commits writes its row in the
same transaction (the session dependency adds it before committing), so a change and its
audit row stand or fall together; a request that fails writes its row after the rollback in
a transaction of its own. Either way a failure to write the row fails the request. The table
is append-only: database triggers refuse UPDATE and DELETE (retention pruning lifts the guard
for its own transaction only).
"""

import uuid
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from fastapi import Request
from sqlalchemy import Index, Integer, String, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.core.ids import new_id
from app.core.models import Base
from app.core.time import utcnow
from app.core.transactions import writing


class AuditEvent(Base):
    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_clinic_id_occurred_at", "clinic_id", "occurred_at"),
        Index("ix_audit_event_client_id_occurred_at", "client_id", "occurred_at"),
        Index("ix_audit_event_actor_id_occurred_at", "actor_id", "occurred_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    clinic_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    actor_role: Mapped[str | None] = mapped_column(String(16), default=None)
    action: Mapped[str] = mapped_column(String(16))
    resource_type: Mapped[str] = mapped_column(String(32))
    resource_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    client_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    outcome: Mapped[int] = mapped_column(Integer)
    request_id: Mapped[str | None] = mapped_column(String(128), default=None)
    source_ip: Mapped[str | None] = mapped_column(String(64), default=None)
    user_agent: Mapped[str | None] = mapped_column(String(300), default=None)


ACTIONS = ("create", "read", "update", "delete", "export", "login", "denied")
_BY_METHOD = {
    "GET": "read",
    "HEAD": "read",
    "POST": "create",
    "PUT": "update",
    "PATCH": "update",
    "DELETE": "delete",
}
DENIED = frozenset({401, 403, 404})


_facts: ContextVar[dict[str, Any] | None] = ContextVar("audit_facts", default=None)


def begin(request: Request) -> None:
    """Start collecting facts for this request's audit row."""
    facts: dict[str, Any] = {}
    request.state.audit = facts
    _facts.set(facts)


def note(**facts: Any) -> None:
    """Say more than the path tells (`client_id` of the record loaded, `action="export"`...).
    Repositories call it when they find a client-owned row; outside a request it does nothing."""
    current = _facts.get()
    if current is not None:
        current.update({k: v for k, v in facts.items() if v is not None})


def _row(request: Request, status: int) -> dict[str, Any] | None:
    spec = getattr(request.state, "audit_spec", None)
    if spec is None:
        return None
    facts = getattr(request.state, "audit", None) or {}
    principal = getattr(request.state, "principal", None)
    path_ids = [v for v in request.path_params.values() if _is_uuid(v)]
    action = facts.get("action") or _BY_METHOD.get(request.method, "read")
    if status in DENIED:
        action = "denied"
    return {
        "id": new_id(),
        "occurred_at": utcnow(),
        "clinic_id": facts.get("clinic_id") or getattr(principal, "clinic_id", None),
        "actor_id": facts.get("actor_id") or getattr(principal, "id", None),
        "actor_role": facts.get("actor_role") or getattr(principal, "actor_role", None),
        "action": action,
        "resource_type": facts.get("resource_type") or spec,
        "resource_id": facts.get("resource_id")
        or (uuid.UUID(str(path_ids[-1])) if path_ids else None),
        "client_id": client_id_of(request),
        "outcome": status,
        "request_id": getattr(request.state, "request_id", None),
        "source_ip": request.client.host if request.client else None,
        "user_agent": (request.headers.get("user-agent") or "")[:300] or None,
    }


def client_id_of(request: Request) -> uuid.UUID | None:
    """The client a request concerns, as its audit row names it: the one noted by the code that
    loaded the client's record, else the path's or query's `client_id`."""
    facts = getattr(request.state, "audit", None) or {}
    value = (
        facts.get("client_id")
        or request.path_params.get("client_id")
        or request.query_params.get("client_id")
    )
    return uuid.UUID(str(value)) if value and _is_uuid(value) else None


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


async def in_transaction(request: Request, session: AsyncSession, status: int) -> None:
    """Add the request's audit row to the transaction that is about to commit."""
    row = _row(request, status)
    if row is not None:
        request.state.audit_written = True
        await session.execute(insert(AuditEvent), [row])


async def apart(request: Request, status: int) -> None:
    """Write the audit row of a request whose own transaction rolled back (or never began)."""
    if getattr(request.state, "audit_written", False):
        return
    row = _row(request, status)
    if row is not None:
        request.state.audit_written = True
        async with writing(request.app.state.sessionmaker) as session:
            await session.execute(insert(AuditEvent), [row])


async def record(sessionmaker: Any, **row: Any) -> None:
    """A row outside any request's flow (logins)."""
    async with writing(sessionmaker) as session:
        await session.execute(
            insert(AuditEvent), [{"id": new_id(), "occurred_at": utcnow(), **row}]
        )


class AuditPrunePermit(Base):
    """Present only inside a pruning transaction: the append-only triggers let DELETE through
    while a row exists here. UPDATE is never allowed."""

    __tablename__ = "audit_prune_permit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)


async def prune(sessionmaker: Any, older_than: datetime) -> int:
    """Delete audit rows older than the retention period (the only deletion ever allowed)."""
    from sqlalchemy import delete

    async with writing(sessionmaker) as session:
        session.add(AuditPrunePermit(id=1))
        await session.flush()
        result = await session.execute(
            delete(AuditEvent).where(AuditEvent.occurred_at < older_than)
        )
        await session.execute(delete(AuditPrunePermit))
        return result.rowcount or 0  # type: ignore[attr-defined]
