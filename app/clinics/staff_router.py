"""Clinic staff (admins and therapists), managed by the clinic's admins."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from sqlalchemy import select

from app.auth.errors import UserNotFound
from app.auth.models import Role, User, UserStatus
from app.auth.policy import ADMINS, READ, WRITE, Policy
from app.auth.principal import Principal
from app.auth.schemas import (
    InvitationRead,
    StaffCreate,
    StaffCreated,
    StaffUpdate,
    UserRead,
)
from app.auth.service import create_user, issue_invitation
from app.auth.tokens import revoke_user_tokens
from app.clinics.models import Clinic
from app.core.db import SessionDep
from app.core.etag import IfMatch, check_if_match, set_etag
from app.core.pagination import ListParamsDep, Page, SortKey, paginate_rows
from app.core.routing import ProblemRoute, problem_responses

router = APIRouter(route_class=ProblemRoute, responses=problem_responses(401, 403))
# Staff accounts are the clinic's configuration, not client data.
StaffReader = Annotated[Principal, Depends(Policy(ADMINS, READ))]
StaffAdmin = Annotated[Principal, Depends(Policy(ADMINS, WRITE))]
_STAFF = (Role.admin, Role.therapist)


async def _staff_member(session: SessionDep, principal: Principal, user_id: uuid.UUID) -> User:
    user = (
        await session.execute(
            select(User).where(
                User.id == user_id, User.clinic_id == principal.clinic_id, User.role.in_(_STAFF)
            )
        )
    ).scalar_one_or_none()
    if user is None:
        raise UserNotFound("No such staff member.")
    return user


@router.get("/users", operation_id="listUsers", summary="List the clinic's staff", tags=["users"])
async def list_users(
    session: SessionDep,
    principal: StaffReader,
    params: ListParamsDep,
    role: Role | None = None,
    status: UserStatus | None = None,
) -> Page[UserRead]:
    stmt = select(User).where(User.clinic_id == principal.clinic_id, User.role.in_(_STAFF))
    if role is not None:
        stmt = stmt.where(User.role == role)
    if status is not None:
        stmt = stmt.where(User.status == status)
    if params.updated_since is not None:
        stmt = stmt.where(User.updated_at >= params.updated_since)
    rows, cursor = await paginate_rows(session, stmt, params, [SortKey(User.id)])
    return Page(items=[UserRead.model_validate(u) for u in rows], next_cursor=cursor)


@router.post(
    "/users",
    operation_id="createUser",
    status_code=201,
    tags=["users"],
    summary="Create a staff member; answers a one-time invitation code",
    responses=problem_responses(409),
)
async def create_staff(
    body: StaffCreate, session: SessionDep, principal: StaffAdmin, response: Response
) -> StaffCreated:
    clinic_tz = await _clinic_timezone(session, principal.clinic_id)
    user = await create_user(
        session,
        clinic_id=principal.clinic_id,
        role=Role(body.role),
        email=body.email,
        display_name=body.display_name,
        timezone=body.timezone or clinic_tz,
    )
    code, expires_at = await issue_invitation(session, user, principal.id)
    response.headers["Location"] = f"/v1/users/{user.id}"
    return StaffCreated(
        **UserRead.model_validate(user).model_dump(),
        invitation=InvitationRead(code=code, expires_at=expires_at),
    )


async def _clinic_timezone(session: SessionDep, clinic_id: uuid.UUID) -> str:
    clinic = await session.get(Clinic, clinic_id)
    assert clinic is not None
    return clinic.timezone


@router.get(
    "/users/{user_id}",
    operation_id="getUser",
    summary="One staff member",
    tags=["users"],
    responses=problem_responses(404),
)
async def get_user(
    user_id: uuid.UUID, session: SessionDep, principal: StaffReader, response: Response
) -> UserRead:
    user = await _staff_member(session, principal, user_id)
    set_etag(response, user.version)
    return UserRead.model_validate(user)


@router.patch(
    "/users/{user_id}",
    operation_id="updateUser",
    tags=["users"],
    summary="Change a staff member; `status: deactivated` ends their access at once",
    responses=problem_responses(404, 412),
)
async def update_user(
    user_id: uuid.UUID,
    body: StaffUpdate,
    session: SessionDep,
    principal: StaffAdmin,
    response: Response,
    if_match: IfMatch = None,
) -> UserRead:
    user = await _staff_member(session, principal, user_id)
    check_if_match(if_match, user.version)
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    if changes.get("status") == UserStatus.active and user.password_hash is None:
        changes.pop("status")  # an invited user becomes active by accepting the invitation
    for field, value in changes.items():
        setattr(user, field, value)
    if user.status == UserStatus.deactivated:
        await revoke_user_tokens(session, user.id)
    await session.flush()
    set_etag(response, user.version)
    return UserRead.model_validate(user)
