"""Metrics for one client, for oneself, and the caseload overview."""

import uuid
from datetime import date, timedelta
from typing import Annotated

from fastapi import Depends, Query
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.policy import EVERYONE, READ, STAFF, ClientSelfReader, Policy
from app.auth.principal import Principal
from app.clinics.repository import ZonedClient, get_visible_zoned_client
from app.core.db import SessionDep
from app.core.errors import Unprocessable, field_error
from app.core.pagination import Page
from app.core.routing import DomainRouter, problem_responses
from app.core.time import local_day, utcnow
from app.core.types import CalendarDate
from app.metrics.caseload import caseload_page
from app.metrics.schemas import CaseloadRow, CaseloadSort, ClientMetrics, Granularity
from app.metrics.service import client_metrics

router = DomainRouter(tags=["metrics"], responses=problem_responses(401, 403))
MetricsReader = Annotated[
    Principal, Depends(Policy(EVERYONE, READ, api_clients=True, audit="metrics"))
]
CaseloadReader = Annotated[
    Principal, Depends(Policy(STAFF, READ, api_clients=True, audit="caseload"))
]
MAX_DAYS = 366

FromDate = Annotated[
    CalendarDate | None, Query(alias="from", description="Default: 27 days before `to`.")
]
ToDate = Annotated[
    CalendarDate | None, Query(alias="to", description="Default: today (client's zone).")
]


def _window(client: ZonedClient, start: date | None, end: date | None) -> tuple[date, date]:
    today = local_day(utcnow(), client.timezone)
    end = end or today
    start = start or end - timedelta(days=27)
    if start > end or (end - start).days + 1 > MAX_DAYS:
        raise Unprocessable(
            f"`from` must be on or before `to`, at most {MAX_DAYS} days apart.",
            errors=[field_error(["query", "from"], "Invalid range", "range")],
        )
    return start, end


async def _metrics(
    session: AsyncSession,
    client: ZonedClient,
    start: date | None,
    end: date | None,
    granularity: Granularity,
) -> ClientMetrics:
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
    client = await get_visible_zoned_client(session, principal, client_id)
    return await _metrics(session, client, start, end, granularity)


@router.get(
    "/me/metrics",
    operation_id="getMyMetrics",
    summary="The signed-in client's own metrics",
    response_model_by_alias=True,
)
async def get_my_metrics(
    session: SessionDep,
    principal: ClientSelfReader,
    start: FromDate = None,
    end: ToDate = None,
    granularity: Granularity = Granularity.week,
) -> ClientMetrics:
    client = await get_visible_zoned_client(session, principal, principal.id)
    return await _metrics(session, client, start, end, granularity)


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
    return await caseload_page(
        session,
        principal,
        sort=sort,
        descending=descending,
        therapist_id=therapist_id,
        limit=limit,
        cursor=cursor,
    )
