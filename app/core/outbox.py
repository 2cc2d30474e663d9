"""The transactional outbox: events written in the same transaction as the change they announce.

Services call `record_event()`; the rows are inserted by a `before_commit` hook, so every
commit path (requests, workers, CLI) writes them, and a rolled-back change leaves none.

Events are numbered per clinic: every reader of the feed and every webhook endpoint belongs to
one clinic, so commit order is needed within a clinic only. The hook takes the clinic's next
numbers from its `event_counter` row (an upsert that adds the transaction's count), and that
row stays locked until COMMIT: a second transaction of the same clinic waits at its own upsert,
so a clinic's numbers are given out in commit order and a reader polling `sequence > cursor`
never sees a later number before an earlier one commits (no missed events). On PostgreSQL a
transaction-level advisory lock of the clinic queues its writers before they reach the row
(a lock queue is cheaper than writers contending for one row), and lock, upsert and events
are one statement (data-modifying CTEs); SQLite serializes writers anyway and gets two
statements. Transactions of different clinics never wait for each other. A transaction that
writes events of several clinics takes their locks and rows in one order (by clinic id).

Other rows can ride along (`ride_along`): a write's audit row joins the events' statement as a
data-modifying CTE on PostgreSQL, so that a write's commit sends one statement for both.

Savepoints: releasing one fires `before_commit` too, but the events wait for the outermost
commit (the clinic's lock and counter row are then held only for the commit itself, not
through the rest of the request); a savepoint that rolls back drops the events queued inside it, and only those.
"""

import uuid
from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Delete,
    Index,
    Insert,
    Integer,
    String,
    UniqueConstraint,
    Update,
    event,
    func,
    insert,
    literal,
    select,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, SessionTransaction, mapped_column

from app.core.ids import new_id
from app.core.models import Base
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
            _insert_numbered_apart(session, rows)
        return
    statement: Rider | None = _insert_numbered(rows) if rows else None
    if statement is None:
        if not riders:
            return
        statement = riders.pop(0)
    for number, rider in enumerate(riders):
        statement = statement.add_cte(rider.cte(f"rider_{number}"))
    session.execute(statement)


# What record_event queues: every column but the sequence, which the clinic's counter gives.
_COLUMNS = tuple(c.name for c in Event.__table__.c if c.name != "sequence")
_COUNTER = EventCounter.__table__


def _take_numbers(
    rows: list[dict[str, Any]], dialect_insert: Any, after: Any = None
) -> tuple[Any, Counter[Any]]:
    """The upsert that adds each clinic's count of `rows` to its counter (a new clinic's row
    starts at its count), returning the clinics' new last numbers; clinics in sorted order, so
    that every transaction takes their rows in the same order. With `after` (a CTE), its rows
    are formed from it, so that it is evaluated first."""
    counts = Counter(row["clinic_id"] for row in rows)
    clinics = sorted(counts)
    if after is None:
        taken = dialect_insert(_COUNTER).values(
            [{"clinic_id": clinic, "last_sequence": counts[clinic]} for clinic in clinics]
        )
    else:
        selects = [
            select(
                literal(clinic, _COUNTER.c.clinic_id.type).label("clinic_id"),
                literal(counts[clinic], BigInteger()).label("last_sequence"),
            ).select_from(after)
            for clinic in clinics
        ]
        source = selects[0] if len(selects) == 1 else union_all(*selects)
        taken = dialect_insert(_COUNTER).from_select(["clinic_id", "last_sequence"], source)
    taken = taken.on_conflict_do_update(
        index_elements=[_COUNTER.c.clinic_id],
        set_={"last_sequence": _COUNTER.c.last_sequence + taken.excluded.last_sequence},
    ).returning(_COUNTER.c.clinic_id, _COUNTER.c.last_sequence)
    return taken, counts


# The advisory locks of the outbox are the two-key kind, (this, a clinic's 32 bits): a space of
# their own. Two clinics may share a lock (they then queue together): harmless.
LOCK_SPACE = 727_100


def clinic_lock_key(clinic_id: uuid.UUID) -> int:
    """The id's 128 bits folded into a signed 32-bit key (all of them: ids minted by the app
    are UUIDv7, whose first bits are a timestamp that clinics made together share)."""
    folded = 0
    for shift in range(0, 128, 32):
        folded ^= (clinic_id.int >> shift) & 0xFFFFFFFF
    return folded - (1 << 32) if folded >= 1 << 31 else folded


def _clinic_locks(clinic_ids: list[uuid.UUID]) -> Any:
    """`SELECT pg_advisory_xact_lock(space, key), ...`: each clinic's lock, in clinic order."""
    return select(
        *(
            func.pg_advisory_xact_lock(
                literal(LOCK_SPACE, Integer()), literal(clinic_lock_key(clinic), Integer())
            ).label(f"held_{number}")
            for number, clinic in enumerate(clinic_ids)
        )
    ).cte("outbox_lock")


def _positions(rows: list[dict[str, Any]], counts: Counter[Any]) -> list[int]:
    """For each row, how many rows of its clinic come after it: its number is the clinic's new
    last number minus that, so a clinic's rows keep the order they were queued in."""
    seen: Counter[Any] = Counter()
    behind = []
    for row in rows:
        seen[row["clinic_id"]] += 1
        behind.append(counts[row["clinic_id"]] - seen[row["clinic_id"]])
    return behind


def _insert_numbered(rows: list[dict[str, Any]]) -> Insert:
    """PostgreSQL, one round trip for lock, numbers and rows: `WITH outbox_lock AS (SELECT
    pg_advisory_xact_lock(...)), sequence_taken AS (INSERT INTO event_counter SELECT ... FROM
    outbox_lock ON CONFLICT DO UPDATE ... RETURNING ...) INSERT INTO event SELECT <row>,
    sequence_taken.last_sequence - <behind> FROM sequence_taken WHERE clinic_id = <clinic>
    UNION ALL ...`. The counter row alone would order a clinic's commits (it stays locked
    until COMMIT), but 32 writers queueing on one hot row run at half the speed of a lock
    queue (bench/event_sequencing.py): the clinic's advisory lock queues them first, so the
    counter's row is never contended."""
    locks = _clinic_locks(sorted({row["clinic_id"] for row in rows}))
    upsert, counts = _take_numbers(rows, postgresql.insert, locks)
    taken = upsert.cte("sequence_taken")
    table = Event.__table__
    selects = [
        select(
            *(literal(row[name], table.c[name].type).label(name) for name in _COLUMNS),
            (taken.c.last_sequence - behind).label("sequence"),
        ).where(taken.c.clinic_id == literal(row["clinic_id"], table.c.clinic_id.type))
        for row, behind in zip(rows, _positions(rows, counts), strict=True)
    ]
    source = selects[0] if len(selects) == 1 else union_all(*selects)
    return insert(Event).from_select([*_COLUMNS, "sequence"], source)


def _insert_numbered_apart(session: Session, rows: list[dict[str, Any]]) -> None:
    """Elsewhere (SQLite, one writer at a time): the upsert, then the rows."""
    upsert, counts = _take_numbers(rows, sqlite.insert)
    last = {clinic: number for clinic, number in session.execute(upsert)}
    numbered = [
        {**row, "sequence": last[row["clinic_id"]] - behind}
        for row, behind in zip(rows, _positions(rows, counts), strict=True)
    ]
    session.execute(insert(Event), numbered)


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
