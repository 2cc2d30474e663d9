"""Accounts: create users, set passwords. Services flush, never commit."""

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.errors import EmailTaken
from app.auth.models import Role, User, UserStatus
from app.auth.passwords import check_password_policy
from app.core.passwords import hash_password
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
