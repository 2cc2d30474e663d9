"""Assignment statements scoped to the principal: the clinic, a therapist's caseload, oneself."""

import uuid
from datetime import date, datetime

from sqlalchemy import ColumnElement, Select, and_, or_

from app.assignments.models import Assignment, AssignmentStatus
from app.auth.principal import Principal
from app.clinics.repository import ClientOwnedRows
from app.core.errors import NotFound
from app.core.pagination import changed_since


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


def matching_assignments(
    principal: Principal,
    *,
    client_id: uuid.UUID | None = None,
    status: AssignmentStatus | None = None,
    template_id: uuid.UUID | None = None,
    goal_id: uuid.UUID | None = None,
    updated_since: datetime | None = None,
) -> Select[Assignment]:
    """The visible assignments that match every filter given (None: no filter)."""
    stmt = visible_assignments(principal)
    for column, value in (
        (Assignment.client_id, client_id),
        (Assignment.status, status),
        (Assignment.template_id, template_id),
        (Assignment.goal_id, goal_id),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    stmt = changed_since(stmt, Assignment.updated_at, updated_since)
    return stmt
