"""Goals and their small steps, and the achievements a client has earned."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from sqlalchemy import select

from app.auth.policy import EVERYONE, READ, WRITE, Policy
from app.auth.principal import Principal
from app.clinics.repository import get_visible_client
from app.completions.models import Achievement
from app.core.db import SessionDep
from app.core.errors import NotFound
from app.core.etag import IfMatch, check_if_match, set_etag
from app.core.outbox import emit, record_event
from app.core.pagination import ListParamsDep, Page, SortKey, paginate_rows
from app.core.routing import ProblemRoute, problem_responses
from app.goals import service
from app.goals.models import Goal, GoalStatus, GoalStep
from app.goals.repository import get_visible_goal, visible_goals
from app.goals.schemas import (
    AchievementRead,
    GoalCreate,
    GoalRead,
    GoalUpdate,
    StepCreate,
    StepRead,
    StepUpdate,
)

router = APIRouter(route_class=ProblemRoute, tags=["goals"], responses=problem_responses(401, 403))
GoalReader = Annotated[Principal, Depends(Policy(EVERYONE, READ, api_clients=True, audit="goal"))]
GoalWriter = Annotated[Principal, Depends(Policy(EVERYONE, WRITE, api_clients=True, audit="goal"))]
AchievementReader = Annotated[
    Principal, Depends(Policy(EVERYONE, READ, api_clients=True, audit="achievement"))
]


class StepNotFound(NotFound):
    slug = "goal-step-not-found"


async def _announce(
    session: SessionDep, goal: Goal, type_: str, response: Response | None = None
) -> GoalRead:
    read = await _read(session, goal, response)
    emit(session, type_, read)
    return read


async def _read(session: SessionDep, goal: Goal, response: Response | None = None) -> GoalRead:
    if response is not None:
        set_etag(response, goal.version)
    return (await service.goal_reads(session, [goal]))[0]


@router.get("/goals", operation_id="listGoals", summary="List visible goals")
async def list_goals(
    session: SessionDep,
    principal: GoalReader,
    params: ListParamsDep,
    client_id: uuid.UUID | None = None,
    status: GoalStatus | None = None,
) -> Page[GoalRead]:
    stmt = visible_goals(principal)
    if client_id is not None:
        stmt = stmt.where(Goal.client_id == client_id)
    if status is not None:
        stmt = stmt.where(Goal.status == status)
    if params.updated_since is not None:
        stmt = stmt.where(Goal.updated_at >= params.updated_since)
    rows, cursor = await paginate_rows(session, stmt, params, [SortKey(Goal.id)])
    return Page(items=await service.goal_reads(session, rows), next_cursor=cursor)


@router.post(
    "/goals",
    operation_id="createGoal",
    status_code=201,
    summary="Create a goal (staff for a client, or a client for themself), with its steps",
    responses=problem_responses(404),
)
async def create_goal(
    body: GoalCreate, session: SessionDep, principal: GoalWriter, response: Response
) -> GoalRead:
    goal = await service.create_goal(session, principal, body)
    response.headers["Location"] = f"/v1/goals/{goal.id}"
    return await _announce(session, goal, "goal.created", response)


@router.get(
    "/goals/{goal_id}",
    operation_id="getGoal",
    summary="One goal with its steps and progress",
    responses=problem_responses(404),
)
async def get_goal(
    goal_id: uuid.UUID, session: SessionDep, principal: GoalReader, response: Response
) -> GoalRead:
    return await _read(session, await get_visible_goal(session, principal, goal_id), response)


@router.patch(
    "/goals/{goal_id}",
    operation_id="updateGoal",
    summary="Change a goal; `status: achieved` celebrates it",
    responses=problem_responses(404, 412),
)
async def update_goal(
    goal_id: uuid.UUID,
    body: GoalUpdate,
    session: SessionDep,
    principal: GoalWriter,
    response: Response,
    if_match: IfMatch = None,
) -> GoalRead:
    goal = await get_visible_goal(session, principal, goal_id, for_update=True)
    check_if_match(if_match, goal.version)
    achieved_before = goal.achieved_at is not None
    await service.update_goal(session, goal, body)
    read = await _announce(session, goal, "goal.updated", response)
    if goal.achieved_at is not None and not achieved_before:
        emit(session, "goal.achieved", read)
    return read


@router.delete(
    "/goals/{goal_id}",
    operation_id="deleteGoal",
    status_code=204,
    summary="Delete a goal and its steps; linked assignments stay, unlinked",
    responses=problem_responses(404, 412),
)
async def delete_goal(
    goal_id: uuid.UUID, session: SessionDep, principal: GoalWriter, if_match: IfMatch = None
) -> None:
    goal = await get_visible_goal(session, principal, goal_id, for_update=True)
    check_if_match(if_match, goal.version)
    tombstone = {"id": str(goal.id), "deleted": True}
    record_event(
        session,
        "goal.deleted",
        resource_type="goal",
        resource_id=goal.id,
        clinic_id=goal.clinic_id,
        client_id=goal.client_id,
        payload=tombstone,
    )
    await service.delete_goal(session, goal)


@router.post(
    "/goals/{goal_id}/steps",
    operation_id="createGoalStep",
    status_code=201,
    summary="Add a small step",
    responses=problem_responses(404),
)
async def create_step(
    goal_id: uuid.UUID,
    body: StepCreate,
    session: SessionDep,
    principal: GoalWriter,
    response: Response,
) -> StepRead:
    goal = await get_visible_goal(session, principal, goal_id, for_update=True)
    step = await service.add_step(session, goal, body)
    await _announce(session, goal, "goal.updated")
    response.headers["Location"] = f"/v1/goals/{goal.id}/steps/{step.id}"
    set_etag(response, step.version)
    return StepRead.model_validate(step)


async def _step(session: SessionDep, goal: Goal, step_id: uuid.UUID) -> GoalStep:
    step = await session.scalar(
        select(GoalStep).where(GoalStep.id == step_id, GoalStep.goal_id == goal.id)
    )
    if step is None:
        raise StepNotFound("No such step.")
    return step


@router.patch(
    "/goals/{goal_id}/steps/{step_id}",
    operation_id="updateGoalStep",
    summary="Rename, tick off or move a step (PATCH `position` to reorder)",
    responses=problem_responses(404, 412),
)
async def update_step(
    goal_id: uuid.UUID,
    step_id: uuid.UUID,
    body: StepUpdate,
    session: SessionDep,
    principal: GoalWriter,
    response: Response,
    if_match: IfMatch = None,
) -> StepRead:
    goal = await get_visible_goal(session, principal, goal_id, for_update=True)
    step = await _step(session, goal, step_id)
    check_if_match(if_match, step.version)
    await service.update_step(session, goal, step, body)
    await _announce(session, goal, "goal.updated")
    set_etag(response, step.version)
    return StepRead.model_validate(step)


@router.delete(
    "/goals/{goal_id}/steps/{step_id}",
    operation_id="deleteGoalStep",
    status_code=204,
    summary="Remove a step",
    responses=problem_responses(404, 412),
)
async def delete_step(
    goal_id: uuid.UUID,
    step_id: uuid.UUID,
    session: SessionDep,
    principal: GoalWriter,
    if_match: IfMatch = None,
) -> None:
    goal = await get_visible_goal(session, principal, goal_id, for_update=True)
    step = await _step(session, goal, step_id)
    check_if_match(if_match, step.version)
    await service.delete_step(session, goal, step)
    await _announce(session, goal, "goal.updated")


@router.get(
    "/clients/{client_id}/achievements",
    operation_id="listAchievements",
    summary="The small wins a client has earned, newest first",
    responses=problem_responses(404),
)
async def list_achievements(
    client_id: uuid.UUID, session: SessionDep, principal: AchievementReader, params: ListParamsDep
) -> Page[AchievementRead]:
    client = await get_visible_client(session, principal, client_id)
    stmt = select(Achievement).where(Achievement.client_id == client.id)
    if params.updated_since is not None:
        stmt = stmt.where(Achievement.updated_at >= params.updated_since)
    rows, cursor = await paginate_rows(
        session,
        stmt,
        params,
        [SortKey(Achievement.earned_at, descending=True), SortKey(Achievement.id, descending=True)],
    )
    return Page(items=[AchievementRead.model_validate(a) for a in rows], next_cursor=cursor)
