"""The transactional outbox: events written in the same transaction as the change they announce.

Services call `record_event()`; the rows are inserted by a `before_commit` hook, so every
commit path (requests, workers, CLI) writes them, and a rolled-back change leaves none.

Events are numbered per clinic: every reader of the feed and every webhook endpoint belongs to
one clinic, so commit order is needed within a clinic only. A clinic's numbers come from its
`event_counter` row, taken under the clinic's transaction-level advisory lock, which is held
until COMMIT ends: a second transaction of the same clinic waits for it, so a clinic's numbers
are given out in commit order and a reader polling `sequence > cursor` never sees a later
number before an earlier one commits (no missed events).

On PostgreSQL the numbers are taken inside the COMMIT: the events are written to `event_queue`
(no lock), and a deferred constraint trigger moves each into `event` with its number as the
transaction commits (`QueuedEvent`). The lock is then held for the COMMIT alone, not while the
client goes from its last statement to its COMMIT: under load that gap is the client's wait for
its turn on a busy event loop, and every writer of the clinic would queue behind it. The queue's
rows are written in clinic order, so a transaction that writes events of several clinics takes
their locks in one order (by clinic id). SQLite serializes writers anyway: there the commit
hook takes the numbers (an upsert) and inserts the numbered rows. Transactions of different
clinics never wait for each other.

Other rows can ride along (`ride_along`): a write's audit row joins the events' statement as a
data-modifying CTE on PostgreSQL, so that a write's commit sends one statement for both.

Savepoints: releasing one fires `before_commit` too, but the events wait for the outermost
commit (the clinic's lock and counter row are then held only for the commit itself, not
through the rest of the request); a savepoint that rolls back drops the events queued inside it, and only those.
"""

import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    BindParameter,
    Delete,
    Identity,
    Index,
    Insert,
    String,
    UniqueConstraint,
    Update,
    bindparam,
    event,
    insert,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, Session, SessionTransaction, mapped_column

from app.core.ids import new_id
from app.core.models import Base
from app.core.prepared import Prepared
from app.core.time import utcnow


class Event(Base):
    __tablename__ = "event"
    __table_args__ = (
        UniqueConstraint("clinic_id", "id"),
        Index("ix_event_client_id_sequence", "client_id", "sequence"),
    )

    # The clinic's feed position: 1, 2, 3 ... in a new clinic's commit order (events older
    # than per-clinic numbering kept their deployment-wide numbers, which are all lower).
    clinic_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    sequence: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    id: Mapped[uuid.UUID] = mapped_column(default=new_id)
    type: Mapped[str] = mapped_column(String(64))
    resource_type: Mapped[str] = mapped_column(String(32))
    resource_id: Mapped[uuid.UUID]
    client_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    payload: Mapped[dict[str, Any]]


class QueuedEvent(Base):
    """PostgreSQL: an event written with its transaction's change and numbered at its COMMIT.

    A deferred constraint trigger (`event_queue_number`, in the migration `c3f9a1d7e5b2`) fires
    for each row inside the COMMIT, in the order the rows were written: it takes the clinic's
    advisory lock, adds one to the clinic's counter, moves the row into `event` with that
    number and deletes it here. Committed, this table holds nothing."""

    __tablename__ = "event_queue"

    position: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    id: Mapped[uuid.UUID]
    clinic_id: Mapped[uuid.UUID]
    type: Mapped[str] = mapped_column(String(64))
    resource_type: Mapped[str] = mapped_column(String(32))
    resource_id: Mapped[uuid.UUID]
    client_id: Mapped[uuid.UUID | None]
    occurred_at: Mapped[datetime]
    payload: Mapped[dict[str, Any]]


class EventCounter(Base):
    """The last sequence number given to an event of each clinic. Its row is the clinic's lock:
    an event-writing transaction updates it and holds it until COMMIT."""

    __tablename__ = "event_counter"

    clinic_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    last_sequence: Mapped[int] = mapped_column(BigInteger)


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


def ride_along(session: Any, statement: Rider, params: Mapping[str, Any] | None = None) -> None:
    """Queue an INSERT, UPDATE or DELETE of another table for the outermost commit, sent with
    the events: on PostgreSQL in the same statement (data-modifying CTEs), elsewhere just
    before them. For what is known only when the transaction is about to commit (a write's
    audit row, the stored answer of its Idempotency-Key). `statement` is built once, with
    bound parameters named for it alone (the events' statement is built once per shape of
    events and riders), and `params` are their values. Riders must not depend on each other's
    effects: data-modifying CTEs all see the same snapshot."""
    sync = getattr(session, "sync_session", session)
    sync.info.setdefault("outbox_riders", []).append((statement, params or {}))


def bound(model: Any, prefix: str, columns: Iterable[str]) -> dict[str, BindParameter[Any]]:
    """For a rider built once: a bound parameter of each column's type, named `prefix` +
    the column's name (see `named`)."""
    return bound_columns(model.__table__, prefix, columns)


def bound_columns(table: Any, prefix: str, columns: Iterable[str]) -> dict[str, BindParameter[Any]]:
    """`bound`, for a Table."""
    return {name: bindparam(prefix + name, type_=table.c[name].type) for name in columns}


def named(prefix: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """A rider's parameters, for the bound parameters `bound` made with the same prefix."""
    return {prefix + name: value for name, value in values.items()}


def _pending(session: Session) -> tuple[list[dict[str, Any]], list[tuple[Rider, Any]]] | None:
    """What the outermost commit must write (taken off the session), None when nothing."""
    if session.in_nested_transaction():
        return None  # a savepoint's release: its events belong to the outermost commit
    rows = session.info.pop("outbox", None) or []
    riders = session.info.pop("outbox_riders", None) or []
    return (rows, riders) if rows or riders else None


def _write_outbox(session: Session) -> None:
    """The commit hook: whatever is still queued (`write_before_commit` may have sent it)."""
    pending = _pending(session)
    if pending is None:
        return
    rows, riders = pending
    # Through the session's connection: statements of the Core (the session would take an
    # INSERT's parameters for rows of an ORM bulk insert).
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        for rider, params in riders:
            connection.execute(rider, params)
        if rows:
            _insert_numbered_apart(connection, rows)
        return
    statement, params = _numbered(rows, riders)
    connection.execute(statement.statement, params)


async def write_before_commit(session: AsyncSession) -> None:
    """Send the queued events and riders now, just before the session's commit: on PostgreSQL
    one prepared statement sent straight to the driver (`core.prepared`); elsewhere the commit
    hook writes them. The request's unit of work calls it; any other commit has the hook."""
    if session.get_bind().dialect.name != "postgresql":
        return
    pending = _pending(session.sync_session)
    if pending is not None:
        statement, params = _numbered(*pending)
        await statement.last(session, **params)


# What record_event queues: every column but the sequence, which the clinic's counter gives.
_COLUMNS = tuple(c.name for c in Event.__table__.c if c.name != "sequence")
_COUNTER = EventCounter.__table__


def _counter_upsert(insert_: Any) -> Any:
    """The counter's upsert: adds each clinic's count to its row (a new clinic's row starts at
    its count) and returns the clinics' new last numbers."""
    return insert_.on_conflict_do_update(
        index_elements=[_COUNTER.c.clinic_id],
        set_={"last_sequence": _COUNTER.c.last_sequence + insert_.excluded.last_sequence},
    ).returning(_COUNTER.c.clinic_id, _COUNTER.c.last_sequence)


# The advisory locks of the outbox are the two-key kind, (this, a clinic's 32 bits): a space of
# their own. Two clinics may share a lock (they then queue together): harmless.
LOCK_SPACE = 727_100


def clinic_lock_key(clinic_id: uuid.UUID) -> int:
    """The id's 128 bits folded into a signed 32-bit key (all of them: ids minted by the app
    are UUIDv7, whose first bits are a timestamp that clinics made together share). The
    numbering trigger computes the same in SQL (`event_clinic_lock_key`)."""
    folded = 0
    for shift in range(0, 128, 32):
        folded ^= (clinic_id.int >> shift) & 0xFFFFFFFF
    return folded - (1 << 32) if folded >= 1 << 31 else folded


def _numbered(
    rows: list[dict[str, Any]], riders: list[tuple[Rider, Any]]
) -> tuple[Prepared, dict[str, Any]]:
    """PostgreSQL's statement for `rows` and `riders` (built once per number of events and
    riders), and its parameters. The events are queued in clinic order (each clinic's in the
    order they were recorded), so that the trigger takes the clinics' locks in one order."""
    params: dict[str, Any] = {}
    ordered = sorted(rows, key=lambda row: row["clinic_id"])
    for number, row in enumerate(ordered):
        params.update(named(f"e{number}_", {name: row[name] for name in _COLUMNS}))
    for _, rider_params in riders:
        params.update(rider_params)
    statements = tuple(statement for statement, _ in riders)
    if len(set(map(id, statements))) != len(statements):
        raise ValueError("a rider rides once per commit (its parameters would collide)")
    return _queue_statement(len(rows), statements), params


@lru_cache(maxsize=256)
def _queue_statement(events: int, riders: tuple[Rider, ...]) -> Prepared:
    """One round trip for the events and the riders: `WITH rider_0 AS (...) INSERT INTO
    event_queue (...) VALUES (...), ...`. It takes no lock: the trigger numbers the events
    inside the COMMIT (`QueuedEvent`), so a clinic's lock is held for the COMMIT alone, never
    while the client is between statements. Without events, the first rider is the statement."""
    riders_left = list(riders)
    if events:
        statement: Rider = insert(QueuedEvent).values(
            [bound(QueuedEvent, f"e{number}_", _COLUMNS) for number in range(events)]
        )
    else:
        statement = riders_left.pop(0)
    for number, rider in enumerate(riders_left):
        statement = statement.add_cte(rider.cte(f"rider_{number}"))
    return Prepared(statement)


def _positions(clinics: list[Any], counts: Counter[Any]) -> list[int]:
    """For each row (given by its clinic), how many rows of its clinic come after it: its
    number is the clinic's new last number minus that, so a clinic's rows keep the order they
    were queued in."""
    seen: Counter[Any] = Counter()
    behind = []
    for clinic in clinics:
        seen[clinic] += 1
        behind.append(counts[clinic] - seen[clinic])
    return behind


def _insert_numbered_apart(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Elsewhere (SQLite, one writer at a time): the upsert, then the rows."""
    clinics = [row["clinic_id"] for row in rows]
    counts = Counter(clinics)
    upsert = _counter_upsert(
        sqlite.insert(EventCounter).values(
            [{"clinic_id": clinic, "last_sequence": counts[clinic]} for clinic in sorted(counts)]
        )
    )
    last = {clinic: number for clinic, number in connection.execute(upsert)}
    numbered = [
        {**row, "sequence": last[row["clinic_id"]] - behind}
        for row, behind in zip(rows, _positions(clinics, counts), strict=True)
    ]
    connection.execute(insert(Event), numbered)


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
