"""Metrics for one client, for oneself, and the caseload overview."""

import uuid
from datetime import date, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query
from sqlalchemy import exists

from app.auth.models import User
from app.auth.policy import CLIENTS, EVERYONE, READ, STAFF, Policy
from app.auth.principal import Principal
from app.clinics.models import CareTeamMember
from app.clinics.repository import get_visible_client, visible_clients
from app.core.db import SessionDep
from app.core.errors import Unprocessable
from app.core.pagination import Page, decode_plain_cursor, encode_cursor
from app.core.routing import ProblemRoute, problem_responses
from app.core.time import utcnow
from app.core.types import CalendarDate
from app.metrics.caseload import caseload_rows
from app.metrics.schemas import CaseloadRow, CaseloadSort, ClientMetrics, Granularity
from app.metrics.service import client_metrics

router = APIRouter(
    route_class=ProblemRoute, tags=["metrics"], responses=problem_responses(401, 403)
)
MetricsReader = Annotated[
    Principal, Depends(Policy(EVERYONE, READ, api_clients=True, audit="metrics"))
]
MyMetricsReader = Annotated[Principal, Depends(Policy(CLIENTS, READ, audit="user"))]
CaseloadReader = Annotated[
    Principal, Depends(Policy(STAFF, READ, api_clients=True, audit="caseload"))
]
MAX_DAYS = 366
MAX_CASELOAD = 2000

FromDate = Annotated[
    CalendarDate | None, Query(alias="from", description="Default: 27 days before `to`.")
]
ToDate = Annotated[
    CalendarDate | None, Query(alias="to", description="Default: today (client's zone).")
]


def _window(client: User, start: date | None, end: date | None) -> tuple[date, date]:
    today = utcnow().astimezone(ZoneInfo(client.timezone)).date()
    end = end or today
    start = start or end - timedelta(days=27)
    if start > end or (end - start).days + 1 > MAX_DAYS:
        raise Unprocessable(
            f"`from` must be on or before `to`, at most {MAX_DAYS} days apart.",
            errors=[{"loc": ["query", "from"], "msg": "Invalid range", "type": "range"}],
        )
    return start, end


async def _metrics(session, client, start, end, granularity) -> ClientMetrics:  # type: ignore[no-untyped-def]
    window_start, window_end = _window(client, start, end)
    return await client_metrics(session, client, window_start, window_end, granularity, utcnow())


@router.get(
    "/clients/{client_id}/metrics",
    operation_id="getClientMetrics",
    summary="Adherence, streaks, mood, measures and goals over a window",
    responses=problem_responses(404),
    response_model_by_alias=True,
)
async def get_client_metrics(
    client_id: uuid.UUID,
    session: SessionDep,
    principal: MetricsReader,
    start: FromDate = None,
    end: ToDate = None,
    granularity: Granularity = Granularity.week,
) -> ClientMetrics:
    client = await get_visible_client(session, principal, client_id)
    return await _metrics(session, client, start, end, granularity)


@router.get(
    "/me/metrics",
    operation_id="getMyMetrics",
    summary="The signed-in client's own metrics",
    response_model_by_alias=True,
)
async def get_my_metrics(
    session: SessionDep,
    principal: MyMetricsReader,
    start: FromDate = None,
    end: ToDate = None,
    granularity: Granularity = Granularity.week,
) -> ClientMetrics:
    client = await get_visible_client(session, principal, principal.id)
    return await _metrics(session, client, start, end, granularity)


class _Reversed:
    """Wraps a value so that ascending sorts put it in descending order."""

    def __init__(self, value: object) -> None:
        self.value = value

    def __lt__(self, other: "_Reversed") -> bool:
        return self.value > other.value  # type: ignore[operator]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reversed) and self.value == other.value


def _cursor_key(row: CaseloadRow, sort: CaseloadSort) -> list[object]:
    value = getattr(row, "display_name" if sort == CaseloadSort.name else sort.value)
    if isinstance(value, datetime):
        value = value.isoformat()  # all UTC, so the text sorts like the instant
    return [value is None, value if value is not None else 0, str(row.client_id)]


def _order(key: list[object], descending: bool) -> tuple:  # type: ignore[type-arg]
    # Nulls last in both directions; the client id breaks ties so the order is total.
    is_null, value, client_id = key
    if descending:
        return (is_null, _Reversed(value), _Reversed(client_id))
    return (is_null, value, client_id)


@router.get(
    "/caseload",
    operation_id="getCaseload",
    summary="Per client: adherence, last completion, open reviews, risk, latest measure",
)
async def get_caseload(
    session: SessionDep,
    principal: CaseloadReader,
    sort: CaseloadSort = CaseloadSort.name,
    descending: bool = False,
    therapist_id: Annotated[
        uuid.UUID | None, Query(description="Admins: one therapist's caseload.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
) -> Page[CaseloadRow]:
    """Rows are computed for the whole (filtered) caseload, then sorted and paged; the cursor
    remembers the last row's sort key, so later pages continue after it."""
    stmt = visible_clients(principal)
    if therapist_id is not None:
        stmt = stmt.where(
            exists().where(
                CareTeamMember.client_id == User.id, CareTeamMember.therapist_id == therapist_id
            )
        )
    clients = list((await session.execute(stmt.limit(MAX_CASELOAD + 1))).scalars())
    if len(clients) > MAX_CASELOAD:
        raise Unprocessable(
            f"The caseload has more than {MAX_CASELOAD} clients; filter by therapist_id.",
            errors=[
                {"loc": ["query", "therapist_id"], "msg": "Caseload too large", "type": "too_many"}
            ],
        )
    rows = await caseload_rows(session, clients, utcnow())
    keyed = sorted(
        ((_cursor_key(r, sort), r) for r in rows), key=lambda kr: _order(kr[0], descending)
    )
    if cursor:
        last = _order(decode_plain_cursor(cursor, 3), descending)
        try:
            keyed = [kr for kr in keyed if last < _order(kr[0], descending)]
        except TypeError:  # a cursor made for another sort
            raise Unprocessable(
                "The cursor belongs to another sort order.",
                errors=[
                    {"loc": ["query", "cursor"], "msg": "Invalid cursor", "type": "cursor_invalid"}
                ],
            ) from None
    page = keyed[:limit]
    next_cursor = encode_cursor(page[-1][0]) if len(keyed) > limit else None
    return Page(items=[row for _, row in page], next_cursor=next_cursor)
