"""The change feed's pages: every event after a cursor, in commit order, scoped to the caller.

A page is written from the stored payloads without parsing them again: they are already the
JSON the API answered. On PostgreSQL the database writes the whole answer (each item in
`EventRead`'s field order, instants as pydantic writes them, the page joined in sequence order,
the next cursor) and hands it over as bytes; on SQLite each stored payload's text is spliced
into its item. Parsed, the answer equals `ChangePage` of the same events (a test compares them
on both engines), which stays the documented response model. Built through the models, a
1,000-event page cost ~150 ms of CPU: every payload parsed, validated and serialized again.
"""

import asyncio
import uuid
from itertools import chain
from typing import Any

from pydantic_core import to_json
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Text,
    case,
    cast,
    func,
    literal,
    literal_column,
    select,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.clinics.repository import client_ids_visible_to
from app.core.outbox import Event
from app.core.pagination import decode_plain_cursor, encode_cursor, invalid_cursor

MAX_SEQUENCE = 2**63 - 1  # BIGINT: a larger number was never given out


def _sequence_of(cursor: str) -> int:
    (value,) = decode_plain_cursor(cursor, 1)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEQUENCE:
        raise invalid_cursor("The cursor is not one this feed gave out.")
    return value


# EventRead's fields before `data`, in its order: the order both page builders write them.
_ENVELOPE = (
    "id",
    "sequence",
    "type",
    "resource_type",
    "resource_id",
    "client_id",
    "clinic_id",
    "occurred_at",
)
_SEQUENCE_AT = _ENVELOPE.index("sequence")


def _sql(literal: str) -> ColumnElement[Any]:
    """A constant written into the statement (json_build_object's arguments are untyped)."""
    return literal_column("'" + literal.replace("'", "''") + "'")


def _instant_json(column: Any) -> ColumnElement[str]:
    """A timestamptz as pydantic writes an aware UTC datetime: seconds, then `.` and six
    digits only when there is a fraction, then `Z`."""
    utc = func.timezone(_sql("UTC"), column)
    micros = func.to_char(utc, _sql("US"))
    return func.concat(
        func.to_char(utc, _sql('YYYY-MM-DD"T"HH24:MI:SS')),
        case((micros == _sql("000000"), _sql("")), else_=func.concat(_sql("."), micros)),
        _sql("Z"),
    )


def _field_json(name: str) -> Any:
    column = getattr(Event, name)
    return _instant_json(column) if name == "occurred_at" else column


async def _page_in_sql(
    session: AsyncSession, conditions: list[Any], limit: int, after: int
) -> bytes:
    """PostgreSQL: the whole answer, as bytes (bytea): the driver hands them over as they
    arrived, and Python makes no copy of a page (1.4 MB for 1,000 completions) at all."""
    item = cast(
        func.json_build_object(
            *chain.from_iterable((_sql(name), _field_json(name)) for name in _ENVELOPE),
            _sql("data"),
            Event.payload,
        ),
        Text,
    )
    page = (
        select(Event.sequence, item.label("item"))
        .where(*conditions)
        .order_by(Event.sequence)
        .limit(limit)
        .subquery()
    )
    items = func.string_agg(page.c.item, aggregate_order_by(_sql(","), page.c.sequence))
    last = func.coalesce(func.max(page.c.sequence), literal(after, BigInteger()))
    body = func.concat(
        _sql('{"items":['),
        items,
        _sql('],"next_cursor":"'),
        _cursor_sql(last),
        _sql('"}'),
    )
    return (await session.execute(select(func.convert_to(body, _sql("UTF8"))))).scalar_one()


def _cursor_sql(sequence: Any) -> ColumnElement[str]:
    """encode_cursor([sequence]) in SQL: base64url of the JSON list `[n]`, without padding."""
    plain = func.convert_to(func.concat(_sql("["), sequence, _sql("]")), _sql("UTF8"))
    return func.rtrim(
        func.translate(func.encode(plain, _sql("base64")), _sql("+/"), _sql("-_")), _sql("=")
    )


async def _page_in_python(
    session: AsyncSession, conditions: list[Any], limit: int
) -> tuple[bytes, int | None]:
    """Elsewhere (SQLite): the stored payload text spliced into each serialized item."""
    rows = await session.execute(
        select(*(getattr(Event, name) for name in _ENVELOPE), type_coerce(Event.payload, Text))
        .where(*conditions)
        .order_by(Event.sequence)
        .limit(limit)
    )
    items: list[bytes] = []
    last = None
    for *envelope, payload in rows:
        head = to_json(dict(zip(_ENVELOPE, envelope, strict=True)))
        items.append(head[:-1] + b',"data":' + payload.encode() + b"}")
        last = envelope[_SEQUENCE_AT]
    return b",".join(items), last


# A 1,000-event page is ~1.4 MB, held a few times over while it travels from the driver to the
# socket: at most this many pages are fetched at once per process, so that a burst of feed
# readers costs a bounded amount of memory. The database builds the pages; a few at a time
# keep it busy.
PAGES_AT_ONCE = 4


def feed_conditions(
    principal: Principal, *, after: int, types: str | None, client_id: uuid.UUID | None
) -> list[Any]:
    """The events after sequence `after` the principal may read: its clinic's; a therapist's
    only those of clients on their care team. `types` is a comma-separated list."""
    conditions: list[Any] = [Event.clinic_id == principal.clinic_id, Event.sequence > after]
    if principal.is_therapist:
        conditions += [
            Event.client_id.is_not(None),
            *client_ids_visible_to(principal, Event.client_id),
        ]
    if types:
        conditions.append(Event.type.in_([t.strip() for t in types.split(",") if t.strip()]))
    if client_id is not None:
        conditions.append(Event.client_id == client_id)
    return conditions


async def change_page(
    session: AsyncSession,
    principal: Principal,
    *,
    cursor: str | None,
    limit: int,
    types: str | None,
    client_id: uuid.UUID | None,
    slots: asyncio.Semaphore,
) -> bytes:
    """One page of the feed as the JSON bytes of a `ChangePage`. On PostgreSQL the database
    writes it, at most as many pages at once as `slots` allows (see PAGES_AT_ONCE)."""
    after = _sequence_of(cursor) if cursor else 0
    conditions = feed_conditions(principal, after=after, types=types, client_id=client_id)
    if session.get_bind().dialect.name == "postgresql":
        async with slots:
            return await _page_in_sql(session, conditions, limit, after)
    items, last = await _page_in_python(session, conditions, limit)
    next_cursor = to_json(encode_cursor([last if last is not None else after]))
    return b"".join((b'{"items":[', items, b'],"next_cursor":', next_cursor, b"}"))
