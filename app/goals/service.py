"""Goals and their steps: create, change, reorder; achievements for steps done and goals reached."""

import uuid
from collections import defaultdict

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import flag_modified

from app.assignments.models import Assignment
from app.auth.principal import Principal
from app.clinics.repository import get_visible_client
from app.completions.achievements import award
from app.completions.adherence import adherence_for_assignments
from app.completions.models import AchievementType
from app.core.errors import Unprocessable
from app.core.time import utcnow
from app.goals.models import Goal, GoalStatus, GoalStep
from app.goals.schemas import (
    GoalCreate,
    GoalProgress,
    GoalRead,
    GoalUpdate,
    StepCreate,
    StepRead,
    StepUpdate,
)


async def create_goal(session: AsyncSession, principal: Principal, body: GoalCreate) -> Goal:
    if principal.is_client:
        client_id = body.client_id or principal.id
    elif body.client_id is None:
        raise Unprocessable(
            "Say whose goal this is.",
            errors=[{"loc": ["body", "client_id"], "msg": "Required for staff", "type": "missing"}],
        )
    else:
        client_id = body.client_id
    client = await get_visible_client(session, principal, client_id)
    goal = Goal(
        clinic_id=client.clinic_id,
        client_id=client.id,
        title=body.title,
        description=body.description,
        why=body.why,
        target_date=body.target_date,
        created_by_id=None if principal.is_api_client else principal.id,
    )
    session.add(goal)
    await session.flush()
    for position, title in enumerate(body.steps):
        session.add(GoalStep(goal_id=goal.id, title=title, position=position))
    await session.flush()
    return goal


async def steps_of(
    session: AsyncSession, goal_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[GoalStep]]:
    found: dict[uuid.UUID, list[GoalStep]] = defaultdict(list)
    if goal_ids:
        rows = await session.execute(
            select(GoalStep)
            .where(GoalStep.goal_id.in_(goal_ids))
            .order_by(GoalStep.goal_id, GoalStep.position, GoalStep.id)
        )
        for step in rows.scalars():
            found[step.goal_id].append(step)
    return found


async def _award_goal(session: AsyncSession, goal: Goal) -> None:
    await award(
        session,
        clinic_id=goal.clinic_id,
        client_id=goal.client_id,
        type_=AchievementType.goal_achieved,
        key=f"goal_achieved:{goal.id}",
        title=f"Goal reached: {goal.title}"[:200],
        refers_to=("goal", goal.id),
    )


async def update_goal(session: AsyncSession, goal: Goal, body: GoalUpdate) -> None:
    changes = body.model_dump(exclude_unset=True)
    # A null title or status leaves it as it is (there is no "no status"; "" was a 500).
    for name in ("title", "status"):
        if name in changes and changes[name] is None:
            changes.pop(name)
    for name, value in changes.items():
        setattr(goal, name, value if value is not None or name == "target_date" else "")
    if body.status == GoalStatus.achieved and goal.achieved_at is None:
        goal.achieved_at = utcnow()
        await _award_goal(session, goal)
    elif body.status is not None and body.status != GoalStatus.achieved:
        goal.achieved_at = None
    await session.flush()


def _touch(goal: Goal) -> None:
    flag_modified(goal, "updated_at")  # a step change is a change of its goal too


def _place(steps: list[GoalStep], step: GoalStep, position: int | None) -> None:
    ordered = [s for s in steps if s.id != step.id]
    ordered.insert(len(ordered) if position is None else min(position, len(ordered)), step)
    for index, item in enumerate(ordered):
        if item.position != index:
            item.position = index


async def add_step(session: AsyncSession, goal: Goal, body: StepCreate) -> GoalStep:
    steps = (await steps_of(session, [goal.id]))[goal.id]
    if len(steps) >= 50:
        raise Unprocessable(
            "A goal holds at most 50 steps.",
            errors=[{"loc": ["body"], "msg": "Too many steps", "type": "too_many"}],
        )
    step = GoalStep(goal_id=goal.id, title=body.title, position=len(steps))
    session.add(step)
    await session.flush()
    _place([*steps, step], step, body.position)
    _touch(goal)
    await session.flush()
    return step


async def update_step(session: AsyncSession, goal: Goal, step: GoalStep, body: StepUpdate) -> None:
    if body.title is not None:
        step.title = body.title
    if body.done is not None and body.done != step.done:
        step.done = body.done
        step.done_at = utcnow() if body.done else None
        if body.done:
            await award(
                session,
                clinic_id=goal.clinic_id,
                client_id=goal.client_id,
                type_=AchievementType.goal_step_done,
                key=f"goal_step:{step.id}",
                title=f"Step done: {step.title}"[:200],
                refers_to=("goal_step", step.id),
            )
    if body.position is not None:
        steps = (await steps_of(session, [goal.id]))[goal.id]
        _place(steps, step, body.position)
    _touch(goal)
    await session.flush()


async def delete_step(session: AsyncSession, goal: Goal, step: GoalStep) -> None:
    await session.delete(step)
    await session.flush()
    steps = (await steps_of(session, [goal.id]))[goal.id]
    for index, item in enumerate(steps):
        item.position = index
    _touch(goal)
    await session.flush()


async def delete_goal(session: AsyncSession, goal: Goal) -> None:
    await session.execute(delete(GoalStep).where(GoalStep.goal_id == goal.id))
    await session.delete(goal)
    await session.flush()


async def goal_reads(session: AsyncSession, goals: list[Goal]) -> list[GoalRead]:
    """Goals with steps, linked assignments and progress: a handful of queries for a page."""
    ids = [g.id for g in goals]
    steps = await steps_of(session, ids)
    linked: dict[uuid.UUID, list[Assignment]] = defaultdict(list)
    if ids:
        for assignment in (
            await session.execute(
                select(Assignment).where(Assignment.goal_id.in_(ids)).order_by(Assignment.id)
            )
        ).scalars():
            linked[assignment.goal_id].append(assignment)  # type: ignore[index]
    every = [a for group in linked.values() for a in group]
    rates = await adherence_for_assignments(session, every, utcnow(), days=30)
    reads = []
    for goal in goals:
        own = steps[goal.id]
        done = sum(s.done for s in own)
        scheduled = sum(rates[a.id].effective for a in linked[goal.id])
        completed = sum(rates[a.id].completed for a in linked[goal.id])
        reads.append(
            GoalRead(
                id=goal.id,
                clinic_id=goal.clinic_id,
                client_id=goal.client_id,
                title=goal.title,
                description=goal.description,
                why=goal.why,
                target_date=goal.target_date,
                status=goal.status,
                achieved_at=goal.achieved_at,
                steps=[StepRead.model_validate(s) for s in own],
                assignment_ids=[a.id for a in linked[goal.id]],
                progress=GoalProgress(
                    steps_done=done,
                    steps_total=len(own),
                    step_progress=round(done / len(own), 4) if own else None,
                    adherence_30d=round(completed / scheduled, 4) if scheduled else None,
                ),
                created_by_id=goal.created_by_id,
                created_at=goal.created_at,
                updated_at=goal.updated_at,
                version=goal.version,
            )
        )
    return reads
