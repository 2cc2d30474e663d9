"""The audit trail: who touched which record, when, from where, and the outcome. No PHI.

Every audited request leaves exactly one row, durable before the answer leaves:
- a write that commits adds its row to its own transaction, so a change and its audit row stand
  or fall together;
- a read, a denial and a failed write have their row written by group commit: a per-process
  `GroupCommit` writer collects the rows of concurrent requests and writes each batch with one
  multi-row INSERT and one COMMIT on a connection of its own; each request waits for the commit
  of the batch holding its row, then answers. A failed batch fails exactly its requests (503).
The table is append-only: database triggers refuse UPDATE and DELETE (retention pruning lifts
the guard for its own transaction only).
"""

import asyncio
import uuid
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any, Protocol

from fastapi import Request
from sqlalchemy import Index, Insert, Integer, String, insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.core.errors import ServiceUnavailable, request_id_of
from app.core.ids import new_id
from app.core.models import Base
from app.core.outbox import bound, named, ride_along
from app.core.time import utcnow
from app.core.transactions import write_intent, writing


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


class Actor(Protocol):
    """Who made the request (the auth package's principal)."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def clinic_id(self) -> uuid.UUID: ...

    @property
    def actor_role(self) -> str: ...


@dataclass
class AuditEntry:
    """One request's audit facts, gathered while it runs (see `note`)."""

    resource: str
    facts: dict[str, Any] = field(default_factory=dict)
    actor: Actor | None = None

    def start(self) -> None:
        _facts.set(self.facts)

    def client_id(self, request: Request) -> uuid.UUID | None:
        """The client the request concerns: the one noted by the code that loaded the client's
        record, else the path's or query's `client_id`."""
        value = (
            self.facts.get("client_id")
            or request.path_params.get("client_id")
            or request.query_params.get("client_id")
        )
        return uuid.UUID(str(value)) if value and _is_uuid(value) else None

    def row(self, request: Request, status: int) -> dict[str, Any]:
        facts, actor = self.facts, self.actor
        path_ids = [v for v in request.path_params.values() if _is_uuid(v)]
        action = facts.get("action") or _BY_METHOD.get(request.method, "read")
        if status in DENIED:
            action = "denied"
        return {
            "id": new_id(),
            "occurred_at": utcnow(),
            "clinic_id": facts.get("clinic_id") or getattr(actor, "clinic_id", None),
            "actor_id": facts.get("actor_id") or getattr(actor, "id", None),
            "actor_role": facts.get("actor_role") or getattr(actor, "actor_role", None),
            "action": action,
            "resource_type": facts.get("resource_type") or self.resource,
            "resource_id": facts.get("resource_id")
            or (uuid.UUID(str(path_ids[-1])) if path_ids else None),
            "client_id": self.client_id(request),
            "outcome": status,
            "request_id": request_id_of(request),
            "source_ip": request.client.host if request.client else None,
            "user_agent": (request.headers.get("user-agent") or "")[:300] or None,
        }


def note(**facts: Any) -> None:
    """Say more than the path tells (`client_id` of the record loaded, `action="export"`...).
    Repositories call it when they find a client-owned row; outside a request it does nothing."""
    current = _facts.get()
    if current is not None:
        current.update({k: v for k, v in facts.items() if v is not None})


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def in_transaction(session: AsyncSession, row: dict[str, Any]) -> None:
    """Add a write's audit row to the transaction that is about to commit: it is inserted with
    the transaction's events, in the same statement on PostgreSQL (`outbox.ride_along`)."""
    ride_along(session, _row_insert(tuple(row)), named("audit_", row))


@cache
def _row_insert(columns: tuple[str, ...]) -> Insert:
    """The INSERT of one audit row, built once (its values bound parameters)."""
    return insert(AuditEvent).values(bound(AuditEvent, "audit_", columns))


def _settle(
    batch: list[tuple[dict[str, Any], "asyncio.Future[None]"]], error: BaseException | None
) -> None:
    """Answer the requests of `batch`: written (no error) or failed with `error`."""
    for _, done in batch:
        if done.done():
            continue
        if error is None:
            done.set_result(None)
        elif isinstance(error, Exception):
            done.set_exception(error)
        else:  # cancelled or interrupted: the row was not written
            done.set_exception(RuntimeError(f"the audit writer stopped: {error!r}"))


class GroupCommit:
    """Writes the audit rows of concurrent requests in shared batches.

    A batch starts as soon as the writer is free (no timer): the rows that arrived while the
    previous batch was being written go together, at most `max_batch` at a time, with one
    multi-row INSERT and one COMMIT. `write` returns once the row's batch committed, and raises
    (503) when that batch failed; the rows of other batches are not affected.
    """

    def __init__(self, engine: AsyncEngine, max_batch: int = 256, writers: int = 1) -> None:
        self.engine, self.max_batch, self.writers = engine, max_batch, writers
        self._queue: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        # The writers at work. Each leaves this set in its own last step (the one that finds
        # the queue empty), not by a done-callback: a row queued in the same turn of the event
        # loop, before such a callback ran, would wait for a writer that is gone. (The
        # callback is kept for a writer cancelled before its first step.)
        self._writers: set[asyncio.Task[None]] = set()
        self.batches = self.rows = 0  # for the benchmark: average batch size

    async def write(self, row: dict[str, Any]) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # Retrieved even when the request went away meanwhile (no "never retrieved" noise).
        done.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._queue.append((row, done))
        if len(self._writers) < self.writers:
            writer = asyncio.create_task(self._drain())
            self._writers.add(writer)
            writer.add_done_callback(self._writers.discard)
        try:
            # Shielded: a client that hangs up does not cancel the write of the batch.
            await asyncio.shield(done)
        except ServiceUnavailable:
            raise
        except Exception as exc:
            raise ServiceUnavailable(
                "The audit trail could not be written; retry.", retry_after=1
            ) from exc

    async def _drain(self) -> None:
        batch: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        try:
            while self._queue:
                batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
                try:
                    await self._insert([row for row, _ in batch])
                except Exception as exc:  # handed to the requests of this batch
                    _settle(batch, exc)
                    continue
                self.batches, self.rows = self.batches + 1, self.rows + len(batch)
                _settle(batch, None)
        except BaseException as exc:  # cancelled: its batch and the queue were not written
            queued, self._queue = self._queue, []
            _settle(batch + queued, exc)
            raise
        finally:
            self._writers.discard(asyncio.current_task())

    async def _insert(self, rows: list[dict[str, Any]]) -> None:
        """One multi-row INSERT, committed. On PostgreSQL it runs in autocommit: a single
        statement is its own transaction, so the batch costs one round trip, not BEGIN, INSERT
        and COMMIT. SQLite takes the write lock up front (BEGIN IMMEDIATE) as every writer."""
        statement = insert(AuditEvent)
        if self.engine.dialect.name == "postgresql":
            async with self.engine.connect() as connection:
                autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
                await autocommit.execute(statement, rows)
            return
        token = write_intent.set(True)
        try:
            async with self.engine.begin() as connection:
                await connection.execute(statement, rows)
        finally:
            write_intent.reset(token)


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
