"""Assignment statements scoped to the principal: the clinic, a therapist's caseload, oneself."""

import uuid

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.assignments.models import Assignment
from app.auth.principal import Principal
from app.clinics.repository import client_ids_visible_to
from app.core import audit
from app.core.errors import NotFound


class AssignmentNotFound(NotFound):
    slug = "assignment-not-found"


def visible_assignments(principal: Principal) -> Select[tuple[Assignment]]:
    return select(Assignment).where(
        Assignment.clinic_id == principal.clinic_id,
        *client_ids_visible_to(principal, Assignment.client_id),
    )


async def get_visible_assignment(
    session: AsyncSession,
    principal: Principal,
    assignment_id: uuid.UUID,
    *,
    for_update: bool = False,
) -> Assignment:
    stmt = visible_assignments(principal).where(Assignment.id == assignment_id)
    if for_update:
        stmt = stmt.with_for_update()
    assignment = (await session.execute(stmt)).scalar_one_or_none()
    if assignment is None:
        raise AssignmentNotFound("No such assignment.")
    audit.note(client_id=assignment.client_id)
    return assignment
