"""Assignment statements scoped to the principal: the clinic, a therapist's caseload, oneself."""

import uuid
from datetime import date, datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    and_,
    bindparam,
    cast,
    literal_column,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.assignments.models import Assignment, AssignmentPause, AssignmentSchedule
from app.assignments.occurrences import TimelineRow
from app.auth.principal import Principal
from app.clinics.repository import ClientOwnedRows, visibility, visible_client_ids
from app.core.errors import NotFound
from app.core.models import UTCDateTime
from app.core.prepared import Prepared


class AssignmentNotFound(NotFound):
    slug = "assignment-not-found"


_assignments = ClientOwnedRows(Assignment, AssignmentNotFound, "No such assignment.")
visible_assignments = _assignments.visible
get_visible_assignment = _assignments.get


def overlapping(
    start: date | ColumnElement[date], end: date | ColumnElement[date]
) -> ColumnElement[bool]:
    """SQL condition: the assignment can have an occurrence between the local dates `start` and
    `end` (both included); an open-ended one (no last date) reaches every day after its first."""
    return and_(
        Assignment.first_date <= end,
        or_(Assignment.last_date.is_(None), Assignment.last_date >= start),
    )


_FILTERS = ("client_id", "status", "template_id", "goal_id")


def _list_statement(seen_by: str, filters: tuple[str, ...], since: bool, after: bool) -> Any:
    """A page of visible assignments by id, then their schedule segments and pauses, as rows of
    one UNION ALL (`kind`: 0 the assignment, 1 a segment in `schedule`, `starts` and `ends`, 2 a
    pause in `starts` and `ends`). Every value is a bound parameter."""
    stmt = select(*Assignment.__table__.c).where(
        Assignment.clinic_id == bindparam("clinic_id", type_=Assignment.clinic_id.type),
        *visible_client_ids(
            seen_by, bindparam("principal_id", type_=Assignment.id.type), Assignment.client_id
        ),
        *(
            getattr(Assignment, name) == bindparam(name, type_=getattr(Assignment, name).type)
            for name in filters
        ),
    )
    if since:
        stmt = stmt.where(Assignment.updated_at >= bindparam("updated_since"))
    if after:
        stmt = stmt.where(Assignment.id > bindparam("after", type_=Assignment.id.type))
    page = stmt.order_by(Assignment.id).limit(bindparam("limit", type_=Integer())).cte("page")

    def part(kind: int, assignment_id: Any, schedule: Any, starts: Any, ends: Any) -> Any:
        columns = [
            assignment_id.label("id")
            if column.name == "id"
            else schedule.label("schedule")
            if column.name == "schedule"
            else (column if kind == 0 else cast(null(), column.type)).label(column.name)
            for column in page.c
        ]
        kind_column = literal_column(str(kind), Integer()).label("kind")
        return select(kind_column, *columns, starts.label("starts"), ends.label("ends"))

    nothing = cast(null(), UTCDateTime)
    return union_all(
        part(0, page.c.id, page.c.schedule, nothing, nothing),
        part(
            1,
            AssignmentSchedule.assignment_id,
            AssignmentSchedule.schedule,
            AssignmentSchedule.effective_from,
            AssignmentSchedule.effective_to,
        ).join_from(AssignmentSchedule, page, AssignmentSchedule.assignment_id == page.c.id),
        part(
            2,
            AssignmentPause.assignment_id,
            cast(null(), AssignmentSchedule.schedule.type),
            AssignmentPause.paused_at,
            AssignmentPause.resumed_at,
        ).join_from(AssignmentPause, page, AssignmentPause.assignment_id == page.c.id),
    ).order_by("kind", "id", "starts")


@cache
def _list(seen_by: str, filters: tuple[str, ...], since: bool, after: bool) -> Prepared:
    """The list's prepared statement of one shape, built and compiled once (few shapes exist:
    three visibilities, which of four filters, two flags)."""
    return Prepared(_list_statement(seen_by, filters, since, after))


async def list_page(
    session: AsyncSession,
    principal: Principal,
    limit: int,
    after: uuid.UUID | None,
    updated_since: datetime | None,
    **filters: Any,
) -> tuple[list[Any], list[TimelineRow]]:
    """Up to `limit` visible assignments after the id `after`, matching every filter given
    (None: no filter), as rows read by column name, and their timelines' rows (for
    `build_timelines`). One prepared statement per shape (`_list_statement`)."""
    given = tuple(name for name in _FILTERS if filters.get(name) is not None)
    statement = _list(visibility(principal), given, updated_since is not None, after is not None)
    params = {name: filters[name] for name in given}
    if updated_since is not None:
        params["updated_since"] = updated_since
    if after is not None:
        params["after"] = after
    rows = await statement.fetch_named(
        session, clinic_id=principal.clinic_id, principal_id=principal.id, limit=limit, **params
    )
    page = [row for row in rows if row.kind == 0]
    timelines = [(r.kind == 1, r.id, r.schedule, r.starts, r.ends) for r in rows if r.kind != 0]
    return page, timelines
