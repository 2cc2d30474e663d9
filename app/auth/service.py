"""Accounts: create users, set and change passwords, invitations. Services flush, never commit.

A user row is one person's membership of one clinic: the same email may have a row in several
clinics, each with its own password, invitation and status (see the README's identity model).

Password work (argon2, ~50 ms in a thread pool, longer when queued behind a login flood) never
runs while the request holds a database write transaction: on SQLite a writing request holds
the write lock from its first statement, and everywhere it holds a pooled connection.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.errors import EmailTaken
from app.auth.models import Invitation, Role, User, UserStatus
from app.auth.passwords import check_password_policy
from app.auth.schemas import MeUpdate, UserRead
from app.core.errors import Conflict, Unprocessable, field_error
from app.core.passwords import hash_password, hash_secret, new_secret, verify_password
from app.core.time import utcnow


def normalize_email(email: str) -> str:
    return email.strip().lower()


async def find_user_by_email(
    session: AsyncSession, clinic_id: uuid.UUID, email: str
) -> User | None:
    """The clinic's own user with this email; other clinics' users are never looked at."""
    stmt = select(User).where(
        User.clinic_id == clinic_id, User.email_normalized == normalize_email(email)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def release_before_hashing(session: AsyncSession) -> None:
    """End the session's transaction, which has only read so far, before a password is hashed
    or verified: its locks and its connection go back while argon2 runs. What the session
    loaded is expired and reloads on the next `session.get`."""
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("release_before_hashing() after a change: it would be lost")
    if session.in_transaction():
        await session.rollback()


async def new_password_hash(
    password: str, email: str, *, loc: tuple[str, ...] = ("body", "password")
) -> str:
    """Check the policy, then hash: the slow half of setting a password, done before the
    session writes anything."""
    check_password_policy(password, email, loc=loc)
    return await hash_password(password)


def set_password_hash(user: User, password_hash: str) -> None:
    user.password_hash = password_hash
    user.password_changed_at = utcnow()
    if user.status == UserStatus.invited:
        user.status = UserStatus.active


async def create_user(
    session: AsyncSession,
    *,
    clinic_id: uuid.UUID,
    role: Role,
    email: str,
    display_name: str,
    timezone: str,
    password_hash: str | None = None,
) -> User:
    """A new member of the clinic. The same email in another clinic is another person's
    membership there and is neither consulted nor touched; the same email twice in one clinic
    is a conflict (the clinic knows its own users)."""
    if await find_user_by_email(session, clinic_id, email) is not None:
        raise _email_taken()
    user = User(
        clinic_id=clinic_id,
        role=role,
        email=email.strip(),
        email_normalized=normalize_email(email),
        display_name=display_name,
        timezone=timezone,
        status=UserStatus.invited,
    )
    if password_hash is not None:
        set_password_hash(user, password_hash)
    session.add(user)
    try:
        await session.flush()
    except IntegrityError:  # a concurrent request added the same email to this clinic
        raise _email_taken() from None
    return user


def _email_taken() -> EmailTaken:
    return EmailTaken(
        "A user of this clinic already has this email.",
        errors=[field_error(["body", "email"], "Email already in use", "unique")],
    )


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
            clinic_id=user.clinic_id,
            user_id=user.id,
            code_hash=hash_secret(code),
            created_by_id=created_by_id,
            expires_at=expires_at,
        )
    )
    await session.flush()
    return code, expires_at


async def accept_invitation(session: AsyncSession, code: str, password: str) -> User:
    """Activate the one membership the code was issued for, and no other."""
    invalid = InvalidInvitation(
        "The invitation code is invalid, expired or already used.",
        errors=[field_error(["body", "code"], "Invalid invitation code", "invitation")],
    )
    found = await _open_invitation(session, code)
    if found is None:
        raise invalid
    invitation_id, user_id, email = found
    await release_before_hashing(session)
    password_hash = await new_password_hash(password, email)
    user = await session.get(User, user_id, populate_existing=True)
    if user is None or user.status != UserStatus.invited:
        raise invalid
    # Spend the code atomically so two concurrent accepts cannot both succeed.
    spent = await session.execute(
        update(Invitation)
        .where(
            Invitation.id == invitation_id,
            Invitation.used_at.is_(None),
            Invitation.expires_at > utcnow(),
        )
        .values(used_at=utcnow())
    )
    assert isinstance(spent, CursorResult)  # an UPDATE's result counts the rows it changed
    if spent.rowcount != 1:
        raise invalid
    set_password_hash(user, password_hash)
    await session.flush()
    return user


async def _open_invitation(
    session: AsyncSession, code: str
) -> tuple[uuid.UUID, uuid.UUID, str] | None:
    """(invitation id, user id, email) of an unused, unexpired code of an invited user."""
    row = (
        await session.execute(
            select(Invitation.id, Invitation.user_id, User.email)
            .join(User, User.id == Invitation.user_id)
            .where(
                Invitation.code_hash == hash_secret(code),
                Invitation.used_at.is_(None),
                Invitation.expires_at > utcnow(),
                User.status == UserStatus.invited,
            )
        )
    ).one_or_none()
    return None if row is None else (row.id, row.user_id, row.email)


async def own_account(session: AsyncSession, user_id: uuid.UUID) -> User:
    """The signed-in user's own row."""
    user = await session.get(User, user_id)
    assert user is not None  # the principal dependency just found it active
    return user


async def update_own_account(session: AsyncSession, user: User, body: MeUpdate) -> UserRead:
    """Change one's display name or time zone (what was sent)."""
    for field, value in body.model_dump(exclude_unset=True, exclude_none=True).items():
        setattr(user, field, value)
    await session.flush()
    return UserRead.model_validate(user)


@dataclass(frozen=True)
class VerifiedPassword:
    """The account's password hash that the caller's current password matched, and its email
    (for the new password's policy), read before the transaction was released."""

    password_hash: str
    email: str


async def check_current_password(
    session: AsyncSession, user_id: uuid.UUID, current: str
) -> VerifiedPassword:
    """The first half of a password change: verify `current` with no transaction open."""
    user = await session.get(User, user_id)
    assert user is not None  # the principal dependency just found it active
    verified = VerifiedPassword(user.password_hash or "", user.email)
    await release_before_hashing(session)
    if not verified.password_hash or not await verify_password(verified.password_hash, current):
        raise _wrong_password()
    return verified


async def replace_password(
    session: AsyncSession, user_id: uuid.UUID, verified: VerifiedPassword, new: str
) -> User:
    """The second half: hash `new` (still with no transaction open), then write it, unless the
    password changed meanwhile: the one verified is then no longer the account's."""
    password_hash = await new_password_hash(new, verified.email, loc=("body", "new_password"))
    user = await session.get(User, user_id, populate_existing=True)
    if user is None or user.password_hash != verified.password_hash:
        raise _wrong_password()
    set_password_hash(user, password_hash)
    await session.flush()
    return user


def _wrong_password() -> "WrongPassword":
    return WrongPassword(
        "The current password is wrong.",
        errors=[field_error(["body", "current_password"], "Wrong password", "password")],
    )


class WrongPassword(Unprocessable):
    slug = "wrong-password"


class InvitationNotNeeded(Conflict):
    slug = "invitation-not-needed"
