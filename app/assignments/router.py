"""Assignments: homework given to a client with instructions, a schedule and reminders."""

import uuid
from typing import Annotated

from fastapi import Depends, Response

from app.assignments import service
from app.assignments.models import AssignmentStatus
from app.assignments.repository import get_visible_assignment
from app.assignments.schemas import AssignmentCreate, AssignmentRead, AssignmentUpdate
from app.auth.policy import EVERYONE, READ, STAFF, WRITE, Policy
from app.auth.principal import Principal
from app.core.db import SessionDep
from app.core.etag import IfMatch, check_if_match, set_etag
from app.core.pagination import ListParamsDep, Page
from app.core.routing import DomainRouter, problem_responses

router = DomainRouter(tags=["assignments"], responses=problem_responses(401, 403))
AssignmentReader = Annotated[
    Principal, Depends(Policy(EVERYONE, READ, api_clients=True, audit="assignment"))
]
AssignmentWriter = Annotated[
    Principal, Depends(Policy(STAFF, WRITE, api_clients=True, audit="assignment"))
]


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
    read = await service.create_assignment(session, principal, body)
    response.headers["Location"] = f"/v1/assignments/{read.id}"
    set_etag(response, read.version)
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
    return await service.list_assignments(
        session,
        principal,
        params,
        client_id=client_id,
        status=status,
        template_id=template_id,
        goal_id=goal_id,
    )


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
    return (await service.assignment_reads(session, [assignment]))[0]


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
    read = await service.update_assignment(session, assignment, body)
    set_etag(response, read.version)
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
