"""GET a client's agenda: what is due, day by day, in their own time zone."""

import uuid
from datetime import date, timedelta
from typing import Annotated

from fastapi import Depends, Query

from app.agenda.schemas import Agenda
from app.agenda.service import client_agenda
from app.auth.policy import EVERYONE, READ, ClientSelfReader, Policy
from app.auth.principal import Principal
from app.clinics.repository import get_visible_zoned_client, my_zone_hint
from app.core.db import SessionDep
from app.core.errors import Unprocessable, field_error
from app.core.routing import DomainRouter, problem_responses
from app.core.time import local_day, utcnow
from app.core.types import CalendarDate

router = DomainRouter(tags=["agenda"], responses=problem_responses(401, 403))
AgendaReader = Annotated[
    Principal, Depends(Policy(EVERYONE, READ, api_clients=True, audit="agenda"))
]
MAX_DAYS = 92

FromDate = Annotated[
    CalendarDate | None, Query(alias="from", description="First local date; today when absent.")
]
ToDate = Annotated[
    CalendarDate | None,
    Query(alias="to", description=f"Last local date (inclusive); at most {MAX_DAYS} days on."),
]


def _window(timezone: str, start: date | None, end: date | None) -> tuple[date, date]:
    today = local_day(utcnow(), timezone)
    start = start or today
    end = end or start + timedelta(days=6)
    if end < start:
        raise Unprocessable(
            "`to` is before `from`.",
            errors=[field_error(["query", "to"], "Before from", "date_order")],
        )
    if (end - start).days + 1 > MAX_DAYS:
        raise Unprocessable(
            f"An agenda spans at most {MAX_DAYS} days.",
            errors=[field_error(["query", "to"], f"More than {MAX_DAYS} days after from", "range")],
        )
    return start, end


async def _agenda(
    session: SessionDep,
    principal: Principal,
    client_id: uuid.UUID,
    start: date | None,
    end: date | None,
) -> Agenda:
    # A client naming themself: the zone the principal check read, which the agenda's own
    # statement checks; anyone else's client is looked up (scoped) first.
    client = my_zone_hint(principal, client_id) or await get_visible_zoned_client(
        session, principal, client_id
    )

    def window(timezone: str) -> tuple[date, date]:
        return _window(timezone, start, end)

    return await client_agenda(session, principal, client, window, utcnow())


@router.get(
    "/clients/{client_id}/agenda",
    operation_id="getClientAgenda",
    summary="A client's occurrences in a date range, with their status",
    responses=problem_responses(404),
    response_model_by_alias=True,
)
async def get_client_agenda(
    client_id: uuid.UUID,
    session: SessionDep,
    principal: AgendaReader,
    start: FromDate = None,
    end: ToDate = None,
) -> Agenda:
    return await _agenda(session, principal, client_id, start, end)


@router.get(
    "/me/agenda",
    operation_id="getMyAgenda",
    summary="The signed-in client's own agenda",
    response_model_by_alias=True,
)
async def get_my_agenda(
    session: SessionDep, principal: ClientSelfReader, start: FromDate = None, end: ToDate = None
) -> Agenda:
    return await _agenda(session, principal, principal.id, start, end)
