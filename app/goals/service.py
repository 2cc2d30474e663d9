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
from app.completions.models import Achievement, AchievementType
from app.core.errors import Unprocessable, field_error
from app.core.outbox import emit, record_event
from app.core.pagination import ListParams, Page, SortKey, paginate_rows
from app.core.time import utcnow
from app.goals.models import Goal, GoalStatus, GoalStep
from app.goals.repository import achievements_of, matching_goals
from app.goals.schemas import (
    AchievementRead,
    GoalCreate,
    GoalProgress,
    GoalRead,
    GoalUpdate,
    StepCreate,
    StepRead,
    StepUpdate,
)


async def _announce(session: AsyncSession, goal: Goal, type_: str) -> GoalRead:
    """The goal as the API answers it, queued as the payload of the event `type_`."""
    read = (await goal_reads(session, [goal]))[0]
    emit(session, type_, read)
    return read


async def list_goals(
    session: AsyncSession,
    principal: Principal,
    params: ListParams,
    *,
    client_id: uuid.UUID | None = None,
    status: GoalStatus | None = None,
) -> Page[GoalRead]:
    stmt = matching_goals(
        principal, client_id=client_id, status=status, updated_since=params.updated_since
    )
    rows, cursor = await paginate_rows(session, stmt, params, [SortKey(Goal.id)])
    return Page(items=await goal_reads(session, rows), next_cursor=cursor)


async def list_achievements(
    session: AsyncSession, principal: Principal, client_id: uuid.UUID, params: ListParams
) -> Page[AchievementRead]:
    """The client's achievements, newest first (404 for a client the caller may not see)."""
    client = await get_visible_client(session, principal, client_id)
    rows, cursor = await paginate_rows(
        session,
        achievements_of(client.id, updated_since=params.updated_since),
        params,
        [SortKey(Achievement.earned_at, descending=True), SortKey(Achievement.id, descending=True)],
    )
    return Page(items=[AchievementRead.model_validate(a) for a in rows], next_cursor=cursor)


async def create_goal(session: AsyncSession, principal: Principal, body: GoalCreate) -> GoalRead:
    """A goal with its steps, for a client the caller sees (a client: their own); announced
    as `goal.created`."""
    if principal.is_client:
        client_id = body.client_id or principal.id
    elif body.client_id is None:
        raise Unprocessable(
            "Say whose goal this is.",
            errors=[field_error(["body", "client_id"], "Required for staff", "missing")],
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
        session.add(
            GoalStep(clinic_id=goal.clinic_id, goal_id=goal.id, title=title, position=position)
        )
    await session.flush()
    return await _announce(session, goal, "goal.created")


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


async def update_goal(session: AsyncSession, goal: Goal, body: GoalUpdate) -> GoalRead:
    """Change what was sent; announced as `goal.updated`, and also `goal.achieved` when this
    change reaches it."""
    achieved_before = goal.achieved_at is not None
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
    read = await _announce(session, goal, "goal.updated")
    if goal.achieved_at is not None and not achieved_before:
        emit(session, "goal.achieved", read)
    return read


def _touch(goal: Goal) -> None:
    flag_modified(goal, "updated_at")  # a step change is a change of its goal too


def _place(steps: list[GoalStep], step: GoalStep, position: int | None) -> None:
    ordered = [s for s in steps if s.id != step.id]
    ordered.insert(len(ordered) if position is None else min(position, len(ordered)), step)
    for index, item in enumerate(ordered):
        if item.position != index:
            item.position = index


async def add_step(session: AsyncSession, goal: Goal, body: StepCreate) -> GoalStep:
    """A new step (at `position`, else last); the goal is announced as `goal.updated`."""
    steps = (await steps_of(session, [goal.id]))[goal.id]
    if len(steps) >= 50:
        raise Unprocessable(
            "A goal holds at most 50 steps.",
            errors=[field_error(["body"], "Too many steps", "too_many")],
        )
    step = GoalStep(
        clinic_id=goal.clinic_id, goal_id=goal.id, title=body.title, position=len(steps)
    )
    session.add(step)
    await session.flush()
    _place([*steps, step], step, body.position)
    _touch(goal)
    await session.flush()
    await _announce(session, goal, "goal.updated")
    return step


async def update_step(session: AsyncSession, goal: Goal, step: GoalStep, body: StepUpdate) -> None:
    """Rename, tick off (a small win) or move a step; announced as `goal.updated`."""
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
    await _announce(session, goal, "goal.updated")


async def delete_step(session: AsyncSession, goal: Goal, step: GoalStep) -> None:
    """Remove a step and close the gap; announced as `goal.updated`."""
    await session.delete(step)
    await session.flush()
    steps = (await steps_of(session, [goal.id]))[goal.id]
    for index, item in enumerate(steps):
        item.position = index
    _touch(goal)
    await session.flush()
    await _announce(session, goal, "goal.updated")


async def delete_goal(session: AsyncSession, goal: Goal) -> None:
    """Delete the goal and its steps; announced by a `goal.deleted` tombstone."""
    record_event(
        session,
        "goal.deleted",
        resource_type="goal",
        resource_id=goal.id,
        clinic_id=goal.clinic_id,
        client_id=goal.client_id,
        payload={"id": str(goal.id), "deleted": True},
    )
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
            if assignment.goal_id is not None:  # always: selected by it
                linked[assignment.goal_id].append(assignment)
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
