"""The change feed: every event after a cursor, in commit order, scoped to the caller."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select

from app.auth.models import Role
from app.auth.principal import Principal, Scope, allow
from app.clinics.repository import client_ids_visible_to
from app.core.db import SessionDep
from app.core.errors import Unprocessable
from app.core.outbox import Event
from app.core.pagination import decode_plain_cursor, encode_cursor
from app.core.routing import ProblemRoute, problem_responses
from app.sync.schemas import ChangePage, EventRead

router = APIRouter(route_class=ProblemRoute, tags=["sync"], responses=problem_responses(401, 403))
FeedReader = Annotated[
    Principal, Depends(allow(Role.admin, Role.therapist, scope=Scope.homework_read))
]


def _sequence_of(cursor: str) -> int:
    (value,) = decode_plain_cursor(cursor, 1)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise Unprocessable(
            "The cursor is not one this feed gave out.",
            errors=[
                {"loc": ["query", "cursor"], "msg": "Invalid cursor", "type": "cursor_invalid"}
            ],
        )
    return value


@router.get("/changes", operation_id="listChanges", summary="Events after a cursor, in order")
async def list_changes(
    session: SessionDep,
    principal: FeedReader,
    cursor: Annotated[
        str | None,
        Query(max_length=200, description="From the last page; absent starts at the beginning."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    types: Annotated[
        str | None, Query(max_length=2000, description="Comma-separated event types.")
    ] = None,
    client_id: uuid.UUID | None = None,
) -> ChangePage:
    """Store `next_cursor` and poll with it: events arrive in commit order, so no event is
    missed or repeated, however many writes run concurrently. Therapists see events of the
    clients on their care team; admins and API clients (`homework:read`) the whole clinic."""
    after = _sequence_of(cursor) if cursor else 0
    stmt = select(Event).where(Event.clinic_id == principal.clinic_id, Event.sequence > after)
    if principal.is_therapist:
        stmt = stmt.where(
            Event.client_id.is_not(None), *client_ids_visible_to(principal, Event.client_id)
        )
    if types:
        stmt = stmt.where(Event.type.in_([t.strip() for t in types.split(",") if t.strip()]))
    if client_id is not None:
        stmt = stmt.where(Event.client_id == client_id)
    rows = list((await session.execute(stmt.order_by(Event.sequence).limit(limit))).scalars())
    last = rows[-1].sequence if rows else after
    return ChangePage(
        items=[
            EventRead(
                id=e.id,
                sequence=e.sequence,
                type=e.type,
                resource_type=e.resource_type,
                resource_id=e.resource_id,
                client_id=e.client_id,
                clinic_id=e.clinic_id,
                occurred_at=e.occurred_at,
                data=e.payload,
            )
            for e in rows
        ],
        next_cursor=encode_cursor([last]),
    )
