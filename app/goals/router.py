"""Goals and their small steps, and the achievements a client has earned."""

import uuid
from typing import Annotated

from fastapi import Depends, Response

from app.auth.policy import EVERYONE, READ, WRITE, Policy
from app.auth.principal import Principal
from app.core.db import SessionDep
from app.core.etag import IfMatch, check_if_match, set_etag
from app.core.pagination import ListParamsDep, Page
from app.core.routing import DomainRouter, problem_responses
from app.goals import service
from app.goals.models import GoalStatus
from app.goals.repository import get_goal_step, get_visible_goal
from app.goals.schemas import (
    AchievementRead,
    GoalCreate,
    GoalRead,
    GoalUpdate,
    StepCreate,
    StepRead,
    StepUpdate,
)

router = DomainRouter(tags=["goals"], responses=problem_responses(401, 403))
GoalReader = Annotated[Principal, Depends(Policy(EVERYONE, READ, api_clients=True, audit="goal"))]
GoalWriter = Annotated[Principal, Depends(Policy(EVERYONE, WRITE, api_clients=True, audit="goal"))]
AchievementReader = Annotated[
    Principal, Depends(Policy(EVERYONE, READ, api_clients=True, audit="achievement"))
]


@router.get("/goals", operation_id="listGoals", summary="List visible goals")
async def list_goals(
    session: SessionDep,
    principal: GoalReader,
    params: ListParamsDep,
    client_id: uuid.UUID | None = None,
    status: GoalStatus | None = None,
) -> Page[GoalRead]:
    return await service.list_goals(session, principal, params, client_id=client_id, status=status)


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
    read = await service.create_goal(session, principal, body)
    response.headers["Location"] = f"/v1/goals/{read.id}"
    set_etag(response, read.version)
    return read


@router.get(
    "/goals/{goal_id}",
    operation_id="getGoal",
    summary="One goal with its steps and progress",
    responses=problem_responses(404),
)
async def get_goal(
    goal_id: uuid.UUID, session: SessionDep, principal: GoalReader, response: Response
) -> GoalRead:
    goal = await get_visible_goal(session, principal, goal_id)
    set_etag(response, goal.version)
    return (await service.goal_reads(session, [goal]))[0]


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
    read = await service.update_goal(session, goal, body)
    set_etag(response, read.version)
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
    response.headers["Location"] = f"/v1/goals/{goal.id}/steps/{step.id}"
    set_etag(response, step.version)
    return StepRead.model_validate(step)


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
    step = await get_goal_step(session, goal, step_id)
    check_if_match(if_match, step.version)
    await service.update_step(session, goal, step, body)
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
    step = await get_goal_step(session, goal, step_id)
    check_if_match(if_match, step.version)
    await service.delete_step(session, goal, step)


@router.get(
    "/clients/{client_id}/achievements",
    operation_id="listAchievements",
    summary="The small wins a client has earned, newest first",
    responses=problem_responses(404),
)
async def list_achievements(
    client_id: uuid.UUID, session: SessionDep, principal: AchievementReader, params: ListParamsDep
) -> Page[AchievementRead]:
    return await service.list_achievements(session, principal, client_id, params)
