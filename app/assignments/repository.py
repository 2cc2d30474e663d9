"""Assignment statements scoped to the principal: the clinic, a therapist's caseload, oneself."""

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Integer, and_, bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.assignments.models import Assignment
from app.auth.principal import Principal
from app.clinics.repository import ClientOwnedRows, visibility, visible_client_ids
from app.core.errors import NotFound
from app.core.prepared import Shaped


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
    """A page of visible assignments, by id: every value a bound parameter."""
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
    return stmt.order_by(Assignment.id).limit(bindparam("limit", type_=Integer()))


_LIST = Shaped(_list_statement)


async def list_page(
    session: AsyncSession,
    principal: Principal,
    limit: int,
    after: uuid.UUID | None,
    updated_since: datetime | None,
    **filters: Any,
) -> list[Any]:
    """Up to `limit` visible assignments after the id `after`, matching every filter given
    (None: no filter), as rows (read by column name). A prepared statement per shape."""
    given = tuple(name for name in _FILTERS if filters.get(name) is not None)
    statement = _LIST(visibility(principal), given, updated_since is not None, after is not None)
    params = {name: filters[name] for name in given}
    if updated_since is not None:
        params["updated_since"] = updated_since
    if after is not None:
        params["after"] = after
    return await statement.fetch_named(
        session, clinic_id=principal.clinic_id, principal_id=principal.id, limit=limit, **params
    )
