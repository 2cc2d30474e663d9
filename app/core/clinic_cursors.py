"""Background readers of the event outbox (the webhook fan-out, the support worker) follow each
clinic's events in the clinic's order, with a cursor per clinic: a table of their own with
`clinic_id` (primary key) and `last_sequence`.

A reader first adds a cursor at 0 for each clinic that has events and none yet
(`add_missing_cursors`, its own short transaction), then claims the cursors behind their
clinic's counter (`claim_behind`) with `FOR UPDATE SKIP LOCKED` on PostgreSQL, so that several
workers take on different clinics side by side, and reads each clinic's events up to the
counter as committed (`unread`): the outbox gives a clinic's numbers in commit order, so every
number up to it belongs to a committed event, and none is passed over.
"""

from typing import Any, Protocol, TypeVar

from sqlalchemy import BigInteger, ColumnElement, exists, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.core.outbox import Event, EventCounter


class ClinicCursor(Protocol):
    clinic_id: Any
    last_sequence: Any


CursorT = TypeVar("CursorT", bound=ClinicCursor)


async def add_missing_cursors(session: AsyncSession, model: type[ClinicCursor]) -> None:
    """A cursor at 0 for each clinic whose events this reader has not looked at yet."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    clinic_id: InstrumentedAttribute[Any] = model.clinic_id
    missing = select(EventCounter.clinic_id, literal(0, BigInteger())).where(
        ~exists().where(clinic_id == EventCounter.clinic_id)
    )
    await session.execute(
        dialect.insert(model)
        .from_select(["clinic_id", "last_sequence"], missing)
        .on_conflict_do_nothing(index_elements=["clinic_id"])
    )


async def claim_behind(
    session: AsyncSession, model: type[CursorT], limit: int
) -> list[tuple[CursorT, int]]:
    """Up to `limit` cursors behind their clinic's counter, locked for this transaction (others
    skip them), each with the counter's value."""
    clinic_id: InstrumentedAttribute[Any] = model.clinic_id
    last: InstrumentedAttribute[Any] = model.last_sequence
    behind = (
        select(model, EventCounter.last_sequence)
        .join(EventCounter, EventCounter.clinic_id == clinic_id)
        .where(EventCounter.last_sequence > last)
        .order_by(clinic_id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        behind = behind.with_for_update(of=model, skip_locked=True)
    return [(cursor, counter) for cursor, counter in await session.execute(behind)]


def unread(cursor: ClinicCursor, last: int) -> list[ColumnElement[bool]]:
    """The conditions of the clinic's events after the cursor, up to `last` (order them by
    `Event.sequence`)."""
    return [
        Event.clinic_id == cursor.clinic_id,
        Event.sequence > cursor.last_sequence,
        Event.sequence <= last,
    ]
