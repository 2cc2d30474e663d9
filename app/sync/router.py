"""The change feed: every event after a cursor, in commit order, scoped to the caller.

The pages are built in app/sync/feed.py, on PostgreSQL by the database itself; this router
answers them as they come, already JSON.
"""

import asyncio
import uuid
from typing import Annotated

from fastapi import Depends, Query, Request, Response

from app.auth.policy import READ, STAFF, Policy
from app.auth.principal import Principal
from app.core.db import SessionDep
from app.core.routing import DomainRouter, problem_responses
from app.sync import feed
from app.sync.schemas import ChangePage

router = DomainRouter(tags=["sync"], responses=problem_responses(401, 403))
FeedReader = Annotated[Principal, Depends(Policy(STAFF, READ, api_clients=True, audit="event"))]


def _page_slots(request: Request) -> asyncio.Semaphore:
    slots = getattr(request.app.state, "feed_page_slots", None)
    if slots is None:
        slots = request.app.state.feed_page_slots = asyncio.Semaphore(feed.PAGES_AT_ONCE)
    return slots


@router.get(
    "/changes",
    operation_id="listChanges",
    summary="Events after a cursor, in order",
    response_model=ChangePage,
)
async def list_changes(
    request: Request,
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
) -> Response:
    """Store `next_cursor` and poll with it: events arrive in commit order, so no event is
    missed or repeated, however many writes run concurrently. Therapists see events of the
    clients on their care team; admins and API clients (`homework:read`) the whole clinic."""
    body = await feed.change_page(
        session,
        principal,
        cursor=cursor,
        limit=limit,
        types=types,
        client_id=client_id,
        slots=_page_slots(request),
    )
    return Response(body, media_type="application/json")
