"""Clinic staff (admins and therapists): their list, accounts and status, kept by the admins."""

import uuid
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.errors import UserNotFound
from app.auth.models import Role, User, UserStatus
from app.auth.principal import Principal
from app.auth.schemas import InvitationRead, StaffCreate, StaffCreated, StaffUpdate, UserRead
from app.auth.service import create_user, issue_invitation
from app.auth.tokens import revoke_user_tokens
from app.clinics.models import Clinic
from app.core.pagination import ListParams, Page, SortKey, changed_since, paginate_rows

STAFF_ROLES = (Role.admin, Role.therapist)


def clinic_staff(principal: Principal) -> Select[User]:
    """The staff of the principal's clinic."""
    return select(User).where(User.clinic_id == principal.clinic_id, User.role.in_(STAFF_ROLES))


def matching_staff(
    principal: Principal,
    *,
    role: Role | None = None,
    status: UserStatus | None = None,
    updated_since: datetime | None = None,
) -> Select[User]:
    """The clinic's staff that match every filter given (None: no filter)."""
    stmt = clinic_staff(principal)
    if role is not None:
        stmt = stmt.where(User.role == role)
    if status is not None:
        stmt = stmt.where(User.status == status)
    stmt = changed_since(stmt, User.updated_at, updated_since)
    return stmt


async def get_staff_member(session: AsyncSession, principal: Principal, user_id: uuid.UUID) -> User:
    user = (
        await session.execute(clinic_staff(principal).where(User.id == user_id))
    ).scalar_one_or_none()
    if user is None:
        raise UserNotFound("No such staff member.")
    return user


async def list_staff(
    session: AsyncSession,
    principal: Principal,
    params: ListParams,
    *,
    role: Role | None = None,
    status: UserStatus | None = None,
) -> Page[UserRead]:
    stmt = matching_staff(principal, role=role, status=status, updated_since=params.updated_since)
    rows, cursor = await paginate_rows(session, stmt, params, [SortKey(User.id)])
    return Page(items=[UserRead.model_validate(u) for u in rows], next_cursor=cursor)


async def create_staff(
    session: AsyncSession, principal: Principal, body: StaffCreate
) -> StaffCreated:
    """A new admin or therapist, invited: the one-time code is in this answer only. Without
    a time zone of their own they take the clinic's."""
    clinic = await session.get(Clinic, principal.clinic_id)
    assert clinic is not None  # the principal dependency found the caller in it
    user = await create_user(
        session,
        clinic_id=principal.clinic_id,
        role=Role(body.role),
        email=body.email,
        display_name=body.display_name,
        timezone=body.timezone or clinic.timezone,
    )
    code, expires_at = await issue_invitation(session, user, principal.id)
    return StaffCreated(
        **UserRead.model_validate(user).model_dump(),
        invitation=InvitationRead(code=code, expires_at=expires_at),
    )


async def update_staff(session: AsyncSession, user: User, body: StaffUpdate) -> UserRead:
    """Change what was sent; deactivating ends the account's access at once (its refresh
    tokens are revoked, and access tokens are refused from the next request on)."""
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    if changes.get("status") == UserStatus.active and user.password_hash is None:
        changes.pop("status")  # an invited user becomes active by accepting the invitation
    for field, value in changes.items():
        setattr(user, field, value)
    if user.status == UserStatus.deactivated:
        await revoke_user_tokens(session, user.id)
    await session.flush()
    return UserRead.model_validate(user)
