"""Assignments: homework given to a client with instructions, a schedule and reminders."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from sqlalchemy import select

from app.assignments import service
from app.assignments.models import Assignment, AssignmentStatus
from app.assignments.occurrences import load_timelines
from app.assignments.repository import get_visible_assignment, visible_assignments
from app.assignments.schemas import AssignmentCreate, AssignmentRead, AssignmentUpdate
from app.auth.models import User
from app.auth.policy import EVERYONE, READ, STAFF, WRITE, Policy
from app.auth.principal import Principal
from app.core.db import SessionDep
from app.core.etag import IfMatch, check_if_match, set_etag
from app.core.outbox import emit
from app.core.pagination import ListParamsDep, Page, SortKey, paginate_rows
from app.core.routing import ProblemRoute, problem_responses
from app.core.time import utcnow

router = APIRouter(
    route_class=ProblemRoute, tags=["assignments"], responses=problem_responses(401, 403)
)
AssignmentReader = Annotated[
    Principal, Depends(Policy(EVERYONE, READ, api_clients=True, audit="assignment"))
]
AssignmentWriter = Annotated[
    Principal, Depends(Policy(STAFF, WRITE, api_clients=True, audit="assignment"))
]


async def _reads(session: SessionDep, assignments: list[Assignment]) -> list[AssignmentRead]:
    timelines = await load_timelines(session, assignments)
    now = utcnow()
    return [service.assignment_read(a, timelines[a.id], now) for a in assignments]


@router.post(
    "/assignments",
    operation_id="createAssignment",
    status_code=201,
    summary="Give a client a template with instructions, a schedule and reminders",
    responses=problem_responses(404, 409),
)
async def create_assignment(
    body: AssignmentCreate, session: SessionDep, principal: AssignmentWriter, response: Response
) -> AssignmentRead:
    assignment = await service.create_assignment(session, principal, body)
    response.headers["Location"] = f"/v1/assignments/{assignment.id}"
    set_etag(response, assignment.version)
    read = (await _reads(session, [assignment]))[0]
    emit(session, "assignment.created", read)
    return read


@router.get("/assignments", operation_id="listAssignments", summary="List visible assignments")
async def list_assignments(
    session: SessionDep,
    principal: AssignmentReader,
    params: ListParamsDep,
    client_id: uuid.UUID | None = None,
    status: AssignmentStatus | None = None,
    template_id: uuid.UUID | None = None,
    goal_id: uuid.UUID | None = None,
) -> Page[AssignmentRead]:
    stmt = visible_assignments(principal)
    for column, value in (
        (Assignment.client_id, client_id),
        (Assignment.status, status),
        (Assignment.template_id, template_id),
        (Assignment.goal_id, goal_id),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if params.updated_since is not None:
        stmt = stmt.where(Assignment.updated_at >= params.updated_since)
    rows, cursor = await paginate_rows(session, stmt, params, [SortKey(Assignment.id)])
    return Page(items=await _reads(session, rows), next_cursor=cursor)


@router.get(
    "/assignments/{assignment_id}",
    operation_id="getAssignment",
    summary="One assignment",
    responses=problem_responses(404),
)
async def get_assignment(
    assignment_id: uuid.UUID, session: SessionDep, principal: AssignmentReader, response: Response
) -> AssignmentRead:
    assignment = await get_visible_assignment(session, principal, assignment_id)
    set_etag(response, assignment.version)
    return (await _reads(session, [assignment]))[0]


@router.patch(
    "/assignments/{assignment_id}",
    operation_id="updateAssignment",
    summary="Change instructions, schedule (from now on), reminders or status",
    responses=problem_responses(404, 409, 412),
)
async def update_assignment(
    assignment_id: uuid.UUID,
    body: AssignmentUpdate,
    session: SessionDep,
    principal: AssignmentWriter,
    response: Response,
    if_match: IfMatch = None,
) -> AssignmentRead:
    assignment = await get_visible_assignment(session, principal, assignment_id, for_update=True)
    check_if_match(if_match, assignment.version)
    client_tz = await session.scalar(select(User.timezone).where(User.id == assignment.client_id))
    await service.update_assignment(session, str(client_tz), assignment, body)
    set_etag(response, assignment.version)
    read = (await _reads(session, [assignment]))[0]
    cancelled = body.status == AssignmentStatus.cancelled
    emit(session, "assignment.cancelled" if cancelled else "assignment.updated", read)
    return read


@router.delete(
    "/assignments/{assignment_id}",
    operation_id="cancelAssignment",
    status_code=204,
    summary="Cancel an assignment; its history stays",
    responses=problem_responses(404, 409, 412),
)
async def cancel_assignment(
    assignment_id: uuid.UUID,
    session: SessionDep,
    principal: AssignmentWriter,
    if_match: IfMatch = None,
) -> None:
    assignment = await get_visible_assignment(session, principal, assignment_id, for_update=True)
    check_if_match(if_match, assignment.version)
    await service.cancel_assignment(session, assignment)
    emit(session, "assignment.cancelled", (await _reads(session, [assignment]))[0])
