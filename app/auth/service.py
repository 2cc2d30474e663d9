"""Accounts: create users, set and change passwords, invitations. Services flush, never commit."""

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.errors import EmailTaken
from app.auth.models import Invitation, Role, User, UserStatus
from app.auth.passwords import check_password_policy
from app.core.errors import Conflict, Unprocessable
from app.core.passwords import hash_password, hash_secret, new_secret, verify_password
from app.core.time import utcnow


def normalize_email(email: str) -> str:
    return email.strip().lower()


async def find_user_by_email(session: AsyncSession, email: str) -> User | None:
    stmt = select(User).where(User.email_normalized == normalize_email(email))
    return (await session.execute(stmt)).scalar_one_or_none()


async def create_user(
    session: AsyncSession,
    *,
    clinic_id: uuid.UUID,
    role: Role,
    email: str,
    display_name: str,
    timezone: str,
    password: str | None = None,
) -> User:
    if await find_user_by_email(session, email) is not None:
        raise EmailTaken(
            "A user with this email already exists.",
            errors=[{"loc": ["body", "email"], "msg": "Email already in use", "type": "unique"}],
        )
    user = User(
        clinic_id=clinic_id,
        role=role,
        email=email.strip(),
        email_normalized=normalize_email(email),
        display_name=display_name,
        timezone=timezone,
        status=UserStatus.invited,
    )
    if password is not None:
        set_password(user, password)
    session.add(user)
    await session.flush()
    return user


def set_password(user: User, password: str) -> None:
    check_password_policy(password, user.email)
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()
    if user.status == UserStatus.invited:
        user.status = UserStatus.active


INVITATION_TTL = timedelta(days=7)


class InvalidInvitation(Unprocessable):
    slug = "invitation-invalid"


async def issue_invitation(
    session: AsyncSession, user: User, created_by_id: uuid.UUID | None
) -> tuple[str, datetime]:
    """A new one-time code for an invited user; earlier unused codes stop working."""
    if user.status != UserStatus.invited:
        raise InvitationNotNeeded("This account is already activated.")
    now = utcnow()
    await session.execute(
        update(Invitation)
        .where(Invitation.user_id == user.id, Invitation.used_at.is_(None))
        .values(used_at=now)
    )
    code = new_secret(24)
    expires_at = now + INVITATION_TTL
    session.add(
        Invitation(
            user_id=user.id,
            code_hash=hash_secret(code),
            created_by_id=created_by_id,
            expires_at=expires_at,
        )
    )
    await session.flush()
    return code, expires_at


async def accept_invitation(session: AsyncSession, code: str, password: str) -> User:
    invalid = InvalidInvitation(
        "The invitation code is invalid, expired or already used.",
        errors=[{"loc": ["body", "code"], "msg": "Invalid invitation code", "type": "invitation"}],
    )
    invitation = (
        await session.execute(select(Invitation).where(Invitation.code_hash == hash_secret(code)))
    ).scalar_one_or_none()
    if invitation is None or invitation.used_at is not None or invitation.expires_at <= utcnow():
        raise invalid
    user = await session.get(User, invitation.user_id)
    if user is None or user.status != UserStatus.invited:
        raise invalid
    set_password(user, password)
    # Spend the code atomically so two concurrent accepts cannot both succeed.
    spent = await session.execute(
        update(Invitation)
        .where(Invitation.id == invitation.id, Invitation.used_at.is_(None))
        .values(used_at=utcnow())
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        raise invalid
    await session.flush()
    return user


async def change_password(session: AsyncSession, user: User, current: str, new: str) -> None:
    if not verify_password(user.password_hash, current):
        raise WrongPassword(
            "The current password is wrong.",
            errors=[
                {"loc": ["body", "current_password"], "msg": "Wrong password", "type": "password"}
            ],
        )
    set_password(user, new)
    await session.flush()


class WrongPassword(Unprocessable):
    slug = "wrong-password"


class InvitationNotNeeded(Conflict):
    slug = "invitation-not-needed"
