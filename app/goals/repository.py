"""Goal statements scoped to the principal."""

import uuid

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.clinics.repository import client_ids_visible_to
from app.core import audit
from app.core.errors import NotFound
from app.goals.models import Goal


class GoalNotFound(NotFound):
    slug = "goal-not-found"


def visible_goals(principal: Principal) -> Select[tuple[Goal]]:
    return select(Goal).where(
        Goal.clinic_id == principal.clinic_id, *client_ids_visible_to(principal, Goal.client_id)
    )


async def get_visible_goal(
    session: AsyncSession, principal: Principal, goal_id: uuid.UUID, *, for_update: bool = False
) -> Goal:
    stmt = visible_goals(principal).where(Goal.id == goal_id)
    if for_update:
        stmt = stmt.with_for_update()
    goal = (await session.execute(stmt)).scalar_one_or_none()
    if goal is None:
        raise GoalNotFound("No such goal.")
    audit.note(client_id=goal.client_id)
    return goal
