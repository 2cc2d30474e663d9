"""Clinic staff (admins and therapists), managed by the clinic's admins."""

import uuid

from fastapi import Response

from app.auth.models import Role, UserStatus
from app.auth.policy import AdminReader, AdminWriter
from app.auth.schemas import StaffCreate, StaffCreated, StaffUpdate, UserRead
from app.clinics import staff
from app.core.db import SessionDep
from app.core.etag import IfMatch, check_if_match, set_etag
from app.core.pagination import ListParamsDep, Page
from app.core.routing import DomainRouter, problem_responses

router = DomainRouter(responses=problem_responses(401, 403))
# Staff accounts are the clinic's configuration, not client data: admins only (AdminReader,
# AdminWriter), no audit resource.


@router.get("/users", operation_id="listUsers", summary="List the clinic's staff", tags=["users"])
async def list_users(
    session: SessionDep,
    principal: AdminReader,
    params: ListParamsDep,
    role: Role | None = None,
    status: UserStatus | None = None,
) -> Page[UserRead]:
    return await staff.list_staff(session, principal, params, role=role, status=status)


@router.post(
    "/users",
    operation_id="createUser",
    status_code=201,
    tags=["users"],
    summary="Create a staff member; answers a one-time invitation code",
    responses=problem_responses(409),
)
async def create_staff(
    body: StaffCreate, session: SessionDep, principal: AdminWriter, response: Response
) -> StaffCreated:
    created = await staff.create_staff(session, principal, body)
    response.headers["Location"] = f"/v1/users/{created.id}"
    return created


@router.get(
    "/users/{user_id}",
    operation_id="getUser",
    summary="One staff member",
    tags=["users"],
    responses=problem_responses(404),
)
async def get_user(
    user_id: uuid.UUID, session: SessionDep, principal: AdminReader, response: Response
) -> UserRead:
    user = await staff.get_staff_member(session, principal, user_id)
    set_etag(response, user.version)
    return UserRead.model_validate(user)


@router.patch(
    "/users/{user_id}",
    operation_id="updateUser",
    tags=["users"],
    summary="Change a staff member; `status: deactivated` ends their access within 5 seconds",
    responses=problem_responses(404, 412),
)
async def update_user(
    user_id: uuid.UUID,
    body: StaffUpdate,
    session: SessionDep,
    principal: AdminWriter,
    response: Response,
    if_match: IfMatch = None,
) -> UserRead:
    user = await staff.get_staff_member(session, principal, user_id)
    check_if_match(if_match, user.version)
    read = await staff.update_staff(session, user, body)
    set_etag(response, read.version)
    return read
