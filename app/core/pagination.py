"""Keyset (cursor) pagination shared by every list: stable order, opaque cursors, no skipped rows."""

import base64
import binascii
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import ColumnElement, Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Unprocessable, field_error
from app.core.types import Instant

T = TypeVar("T")
S = TypeVar("S", bound=Select[Any])
DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


@dataclass
class ListParams:
    """`limit`, `cursor` and `updated_since`, which every list takes (`ListParamsDep`)."""

    limit: int = DEFAULT_LIMIT
    cursor: str | None = None
    updated_since: datetime | None = None


async def _list_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size.")] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        Query(max_length=1024, description="Opaque cursor from the previous page's next_cursor."),
    ] = None,
    updated_since: Annotated[
        Instant | None,
        Query(description="Only rows changed at or after this instant (RFC 3339 with offset)."),
    ] = None,
) -> ListParams:
    # An `async def`: with `Depends()` on the dataclass FastAPI called its constructor, a
    # plain callable, in the thread pool, one thread hop per list request.
    return ListParams(limit=limit, cursor=cursor, updated_since=updated_since)


ListParamsDep = Annotated[ListParams, Depends(_list_params)]


@dataclass(frozen=True)
class SortKey:
    column: Any
    descending: bool = False


def encode_cursor(values: list[Any]) -> str:
    plain = [
        v.isoformat()
        if isinstance(v, datetime)
        else v
        if isinstance(v, bool | int | float)
        else str(v)
        for v in values
    ]
    raw = json.dumps(plain, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def invalid_cursor(detail: str = "The cursor is not one this list gave out.") -> Unprocessable:
    """The 422 for a `cursor` query parameter the list did not give out."""
    return Unprocessable(
        detail,
        errors=[field_error(["query", "cursor"], "Invalid cursor", "cursor_invalid")],
    )


def decode_plain_cursor(cursor: str, length: int) -> list[Any]:
    """The JSON values an `encode_cursor` put in, or a 422 naming the cursor."""
    try:
        plain = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error):
        raise invalid_cursor() from None
    if not isinstance(plain, list) or len(plain) != length:
        raise invalid_cursor()
    return plain


def decode_cursor(cursor: str, keys: list[SortKey]) -> list[Any]:
    plain = decode_plain_cursor(cursor, len(keys))
    try:
        values: list[Any] = []
        for key, value in zip(keys, plain, strict=True):
            python_type = key.column.type.python_type
            if python_type is uuid.UUID:
                values.append(uuid.UUID(value))
            elif python_type is datetime:
                values.append(datetime.fromisoformat(value))
            elif python_type is int:
                values.append(int(value))
            else:
                values.append(python_type(value))
        return values
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError, NotImplementedError):
        raise invalid_cursor() from None


def _after(keys: list[SortKey], values: list[Any]) -> ColumnElement[bool]:
    """(k1, k2, ...) strictly after (v1, v2, ...) in the sort order, portable to SQLite."""
    clauses = []
    for i, key in enumerate(keys):
        equal = [keys[j].column == values[j] for j in range(i)]
        beyond = key.column < values[i] if key.descending else key.column > values[i]
        clauses.append(and_(*equal, beyond))
    return or_(*clauses)


def changed_since(stmt: S, column: Any, since: datetime | None) -> S:
    """`stmt` limited to rows changed since `since` (every list's `updated_since`), or as it is."""
    return stmt if since is None else stmt.where(column >= since)


async def paginate_rows(
    session: AsyncSession,
    stmt: Select[Any],
    params: ListParams,
    keys: list[SortKey],
    *,
    scalars: bool = True,
) -> tuple[list[Any], str | None]:
    """Run `stmt` for one page ordered by `keys` (the last key must be unique, e.g. the id)."""
    if params.cursor:
        stmt = stmt.where(_after(keys, decode_cursor(params.cursor, keys)))
    order = [k.column.desc() if k.descending else k.column.asc() for k in keys]
    stmt = stmt.order_by(*order).limit(params.limit + 1)
    result = await session.execute(stmt)
    return _page(list(result.scalars().all() if scalars else result.all()), params, keys)


async def paginate_fetched(
    fetch: Callable[[int, list[Any] | None], Awaitable[list[Any]]],
    params: ListParams,
    keys: list[SortKey],
) -> tuple[list[Any], str | None]:
    """One page from `fetch(limit, after)`, which reads up to `limit` rows ordered by `keys`
    after the cursor's values (None: from the first); for lists read by prepared statements."""
    after = decode_cursor(params.cursor, keys) if params.cursor else None
    return _page(await fetch(params.limit + 1, after), params, keys)


def _page(rows: list[Any], params: ListParams, keys: list[SortKey]) -> tuple[list[Any], str | None]:
    """The page (one row more was read than it holds) and the cursor of the next, if any."""
    next_cursor = None
    if len(rows) > params.limit:
        rows = rows[: params.limit]
        next_cursor = encode_cursor([_value_of(rows[-1], k) for k in keys])
    return rows, next_cursor


def _value_of(row: Any, key: SortKey) -> Any:
    name = key.column.key
    if hasattr(row, name):
        return getattr(row, name)
    return row._mapping[key.column]
