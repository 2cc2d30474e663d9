"""The transactional outbox: events written in the same transaction as the change they announce.

Services call `record_event()`; the rows are inserted by a `before_commit` hook, so every
commit path (requests, workers, CLI) writes them, and a rolled-back change leaves none. On
PostgreSQL the hook first takes a transaction-level advisory lock: event rows then get their
sequence numbers in commit order, so a reader polling `sequence > cursor` can never see a
later number before an earlier one commits (no missed events). SQLite serializes writers anyway.

Other rows can ride along (`ride_along`): a write's audit row joins the events' statement as a
data-modifying CTE on PostgreSQL, so that a write's commit sends one statement for both.

Savepoints: releasing one fires `before_commit` too, but the events wait for the outermost
commit (the global lock is then held only for the commit itself, not through the rest of the
request); a savepoint that rolls back drops the events queued inside it, and only those.
"""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Delete,
    Index,
    Insert,
    Integer,
    String,
    Update,
    event,
    func,
    insert,
    literal,
    select,
    union_all,
)
from sqlalchemy.orm import Mapped, Session, SessionTransaction, mapped_column

from app.core.ids import new_id
from app.core.models import Base
from app.core.time import utcnow

OUTBOX_LOCK_KEY = 727_100_001  # any constant, shared by every process


class Event(Base):
    __tablename__ = "event"
    __table_args__ = (
        Index("ix_event_clinic_id_sequence", "clinic_id", "sequence"),
        Index("ix_event_client_id_sequence", "client_id", "sequence"),
    )

    # BIGINT on PostgreSQL; SQLite needs INTEGER PRIMARY KEY for its rowid autoincrement.
    sequence: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    id: Mapped[uuid.UUID] = mapped_column(unique=True, default=new_id)
    type: Mapped[str] = mapped_column(String(64))
    resource_type: Mapped[str] = mapped_column(String(32))
    resource_id: Mapped[uuid.UUID]
    clinic_id: Mapped[uuid.UUID]
    client_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    payload: Mapped[dict[str, Any]]


def record_event(
    session: Any,
    type_: str,
    *,
    resource_type: str,
    resource_id: uuid.UUID,
    clinic_id: uuid.UUID,
    client_id: uuid.UUID | None,
    payload: dict[str, Any],
) -> uuid.UUID:
    """Queue an event for this session's transaction (AsyncSession or Session)."""
    sync = getattr(session, "sync_session", session)
    event_id = new_id()
    sync.info.setdefault("outbox", []).append(
        {
            "id": event_id,
            "type": type_,
            "resource_type": resource_type,
            "resource_id": resource_id,
            "clinic_id": clinic_id,
            "client_id": client_id,
            "occurred_at": utcnow(),
            "payload": payload,
        }
    )
    return event_id


Rider = Insert | Update | Delete


def ride_along(session: Any, statement: Rider) -> None:
    """Queue an INSERT, UPDATE or DELETE of another table for the outermost commit, sent with
    the events: on PostgreSQL in the same statement (data-modifying CTEs), elsewhere just
    before them. For what is known only when the transaction is about to commit (a write's
    audit row, the stored answer of its Idempotency-Key). Riders must not depend on each
    other's effects: data-modifying CTEs all see the same snapshot."""
    sync = getattr(session, "sync_session", session)
    sync.info.setdefault("outbox_riders", []).append(statement)


def _write_outbox(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint's release: its events belong to the outermost commit
    rows = session.info.pop("outbox", None)
    riders: list[Rider] = session.info.pop("outbox_riders", None) or []
    if session.get_bind().dialect.name != "postgresql":
        for rider in riders:
            session.execute(rider)
        if rows:
            session.execute(insert(Event), rows)
        return
    statement: Rider | None = _insert_after_lock(rows) if rows else None
    if statement is None:
        if not riders:
            return
        statement = riders.pop(0)
    for number, rider in enumerate(riders):
        statement = statement.add_cte(rider.cte(f"rider_{number}"))
    session.execute(statement)


# What record_event queues: every column but the sequence, which the database draws.
_COLUMNS = tuple(c.name for c in Event.__table__.c if not c.primary_key)


def _insert_after_lock(rows: list[dict[str, Any]]) -> Insert:
    """One round trip for lock and rows: `WITH lock AS (SELECT pg_advisory_xact_lock(k))
    INSERT ... SELECT <row> FROM lock UNION ALL ...`. No row can be formed, and so no sequence
    number drawn (the column default is evaluated per inserted row), before the lock is held."""
    lock = select(
        func.pg_advisory_xact_lock(literal(OUTBOX_LOCK_KEY, BigInteger())).label("held")
    ).cte("outbox_lock")
    table = Event.__table__
    selects = [
        select(
            *(literal(row[name], table.c[name].type).label(name) for name in _COLUMNS)
        ).select_from(lock)
        for row in rows
    ]
    source = selects[0] if len(selects) == 1 else union_all(*selects)
    return insert(Event).from_select(list(_COLUMNS), source)


def _drop_outbox(session: Session, *_: Any) -> None:
    if session.in_nested_transaction():
        # ROLLBACK TO SAVEPOINT: forget what was queued since the savepoint began.
        marks = session.info.get("outbox_marks")
        queued = session.info.get("outbox")
        if marks and queued:
            del queued[marks[-1] :]
        return
    session.info.pop("outbox", None)
    session.info.pop("outbox_riders", None)


def _savepoint_begun(session: Session, transaction: SessionTransaction) -> None:
    if transaction.nested:
        marks = session.info.setdefault("outbox_marks", [])
        marks.append(len(session.info.get("outbox", ())))


def _savepoint_ended(session: Session, transaction: SessionTransaction) -> None:
    if transaction.nested and session.info.get("outbox_marks"):
        session.info["outbox_marks"].pop()


def install_outbox() -> None:
    """Hook every ORM session (idempotent). `create_sessionmaker` calls it, so every session
    the app, the worker or the CLI opens writes its events."""
    if not event.contains(Session, "before_commit", _write_outbox):
        event.listen(Session, "before_commit", _write_outbox)
        event.listen(Session, "after_rollback", _drop_outbox)
        event.listen(Session, "after_transaction_create", _savepoint_begun)
        event.listen(Session, "after_transaction_end", _savepoint_ended)


def emit(session: Any, type_: str, resource: Any, *, client_id: uuid.UUID | None = None) -> None:
    """Queue `type_` (e.g. "assignment.created") with `resource`, a response model that has
    `id` and `clinic_id` (and usually `client_id`), as the payload the API would answer."""
    record_event(
        session,
        type_,
        resource_type=type_.split(".", 1)[0],
        resource_id=resource.id,
        clinic_id=resource.clinic_id,
        client_id=client_id if client_id is not None else getattr(resource, "client_id", None),
        payload=resource.model_dump(mode="json"),
    )
