"""Goal statements scoped to the principal."""

import uuid
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.clinics.repository import ClientOwnedRows
from app.completions.models import Achievement
from app.core.errors import NotFound
from app.core.pagination import changed_since
from app.goals.models import Goal, GoalStatus, GoalStep


class GoalNotFound(NotFound):
    slug = "goal-not-found"


class StepNotFound(NotFound):
    slug = "goal-step-not-found"


_goals = ClientOwnedRows(Goal, GoalNotFound, "No such goal.")
visible_goals = _goals.visible
get_visible_goal = _goals.get


def matching_goals(
    principal: Principal,
    *,
    client_id: uuid.UUID | None = None,
    status: GoalStatus | None = None,
    updated_since: datetime | None = None,
) -> Select[Goal]:
    """The visible goals that match every filter given (None: no filter)."""
    stmt = visible_goals(principal)
    if client_id is not None:
        stmt = stmt.where(Goal.client_id == client_id)
    if status is not None:
        stmt = stmt.where(Goal.status == status)
    stmt = changed_since(stmt, Goal.updated_at, updated_since)
    return stmt


async def get_goal_step(session: AsyncSession, goal: Goal, step_id: uuid.UUID) -> GoalStep:
    """One step of a goal the caller was found to see."""
    step = await session.scalar(
        select(GoalStep).where(GoalStep.id == step_id, GoalStep.goal_id == goal.id)
    )
    if step is None:
        raise StepNotFound("No such step.")
    return step


def achievements_of(
    client_id: uuid.UUID, *, updated_since: datetime | None = None
) -> Select[Achievement]:
    """A client's achievements (the client was found visible first)."""
    stmt = select(Achievement).where(Achievement.client_id == client_id)
    stmt = changed_since(stmt, Achievement.updated_at, updated_since)
    return stmt
