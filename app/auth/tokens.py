"""Token issuing: password logins, rotating refresh tokens with reuse detection, client credentials."""

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import CursorResult, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import ApiClient, RefreshToken, Role, User, UserStatus
from app.auth.principal import ALL_SCOPES, ROLE_SCOPES
from app.auth.schemas import OAuthErrorCode
from app.auth.service import normalize_email, release_before_hashing
from app.core.config import Settings
from app.core.jwt import JwtCodec
from app.core.passwords import (
    hash_password,
    hash_secret,
    needs_rehash,
    new_secret,
    secrets_equal,
    verify_password,
)
from app.core.time import utcnow
from app.core.transactions import write_intent


class GrantError(Exception):
    """An OAuth2 error (RFC 6749 §5.2): `error` code and description. The status follows from
    the code: 401 when client authentication failed (`invalid_client`), else 400."""

    def __init__(self, error: OAuthErrorCode, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description

    @property
    def status(self) -> int:
        return 401 if self.error == "invalid_client" else 400


@dataclass
class IssuedTokens:
    access_token: str
    expires_in: int
    scope: str
    refresh_token: str | None = None
    # Who got them (for the audit trail): user or API client id, role, clinic.
    subject: uuid.UUID | None = None
    role: str | None = None
    clinic_id: uuid.UUID | None = None


def _narrow_scopes(requested: str | None, granted: frozenset[str]) -> frozenset[str]:
    if not requested:
        return granted
    asked = frozenset(requested.split())
    if not asked <= granted:
        raise GrantError("invalid_scope", "The requested scope exceeds what was granted.")
    return asked


def user_access_token(
    codec: JwtCodec, settings: Settings, user: User, scopes: frozenset[str]
) -> str:
    claims = {
        "sub": str(user.id),
        "kind": "user",
        "clinic": str(user.clinic_id),
        "role": user.role.value,
        "scope": " ".join(sorted(scopes)),
    }
    return codec.encode(claims, typ="access", ttl_seconds=settings.access_token_ttl_seconds)


async def _new_refresh_token(
    session: AsyncSession, settings: Settings, user: User, family_id: uuid.UUID, scopes: str
) -> str:
    token = new_secret(32)
    session.add(
        RefreshToken(
            clinic_id=user.clinic_id,
            user_id=user.id,
            family_id=family_id,
            token_hash=hash_secret(token),
            scope=scopes,
            expires_at=utcnow() + timedelta(days=settings.refresh_token_ttl_days),
        )
    )
    await session.flush()
    return token


MAX_ACCOUNTS_PER_EMAIL = 20  # the memberships one login may try; bounds a login's argon2 work


@dataclass(frozen=True)
class Account:
    """What a login needs to know of one membership, read before any password is verified."""

    id: uuid.UUID
    clinic_id: uuid.UUID
    role: Role
    status: UserStatus
    password_hash: str | None


class LoginFailed(GrantError):
    """Wrong email or password. `account` names the membership the audit row is about, when the
    email (and the `clinic_id` sent) point to exactly one."""

    def __init__(self, account: Account | None) -> None:
        super().__init__("invalid_grant", "The email or password is wrong.")
        self.account = account


async def _accounts(session: AsyncSession, email: str) -> list[Account]:
    # Only a read, in a transaction that ends before any write: on SQLite a plain BEGIN, which
    # waits for no writer (WAL), rather than the request's BEGIN IMMEDIATE.
    token = write_intent.set(False)
    try:
        rows = await session.execute(
            select(User.id, User.clinic_id, User.role, User.status, User.password_hash)
            .where(User.email_normalized == normalize_email(email))
            .order_by(User.id)
            .limit(MAX_ACCOUNTS_PER_EMAIL)
        )
        return [Account(*row) for row in rows]
    finally:
        write_intent.reset(token)


async def _matching(accounts: list[Account], password: str) -> list[Account]:
    """The active accounts this password opens. With none to try, one dummy verification, so
    an unknown email costs what a wrong password costs."""
    usable = [a for a in accounts if a.status == UserStatus.active and a.password_hash]
    if not usable:
        await verify_password(None, password)
        return []
    return [a for a in usable if await verify_password(a.password_hash, password)]


async def password_grant(
    session: AsyncSession,
    codec: JwtCodec,
    settings: Settings,
    *,
    email: str,
    password: str,
    scope: str | None,
    clinic_id: uuid.UUID | None = None,
) -> IssuedTokens:
    """The membership this email and password open: the only one, or the one in `clinic_id`
    when the same password opens several. Unknown email, wrong password and inactive account
    answer alike (same error, same work). Passwords are verified with no transaction open."""
    accounts = [
        a for a in await _accounts(session, email) if clinic_id is None or a.clinic_id == clinic_id
    ]
    await release_before_hashing(session)
    matches = await _matching(accounts, password)
    if not matches:
        raise LoginFailed(accounts[0] if len(accounts) == 1 else None)
    if len(matches) > 1:
        raise GrantError(
            "invalid_request",
            "This email has accounts in several clinics with this password; send clinic_id.",
        )
    account = matches[0]
    scopes = _narrow_scopes(scope, ROLE_SCOPES[account.role])
    assert account.password_hash is not None
    rehashed = await hash_password(password) if needs_rehash(account.password_hash) else None
    user = await session.get(User, account.id)
    if (
        user is None
        or user.status != UserStatus.active
        or user.password_hash != account.password_hash
    ):
        raise LoginFailed(account)  # changed while the password was being verified
    if rehashed is not None:
        user.password_hash = rehashed
    user.last_login_at = utcnow()
    scope_text = " ".join(sorted(scopes))
    refresh = await _new_refresh_token(session, settings, user, uuid.uuid4(), scope_text)
    return IssuedTokens(
        access_token=user_access_token(codec, settings, user, scopes),
        expires_in=settings.access_token_ttl_seconds,
        scope=scope_text,
        refresh_token=refresh,
        subject=user.id,
        role=user.role.value,
        clinic_id=user.clinic_id,
    )


async def revoke_family(session: AsyncSession, family_id: uuid.UUID) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


async def revoke_user_tokens(session: AsyncSession, user_id: uuid.UUID) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


async def refresh_grant(
    session: AsyncSession, codec: JwtCodec, settings: Settings, *, refresh_token: str
) -> IssuedTokens:
    """Rotate: spend the presented token and issue its child. Presenting a spent token revokes
    the whole family (it was stolen, or the legitimate holder's copy was), answering 400
    `invalid_grant` like any unusable refresh token; the caller must commit that revocation
    even though the answer is an error."""
    invalid = GrantError("invalid_grant", "The refresh token is invalid, expired or revoked.")
    row = (
        await session.execute(
            select(RefreshToken).where(RefreshToken.token_hash == hash_secret(refresh_token))
        )
    ).scalar_one_or_none()
    if row is None:
        raise invalid
    now = utcnow()
    if row.revoked_at is not None or row.expires_at <= now:
        raise invalid
    # Spend it atomically: of two concurrent uses only one wins, the other is a reuse.
    spent = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == row.id, RefreshToken.used_at.is_(None))
        .values(used_at=now)
    )
    assert isinstance(spent, CursorResult)  # an UPDATE's result counts the rows it changed
    if spent.rowcount != 1:
        await revoke_family(session, row.family_id)
        raise GrantError(
            "invalid_grant", "The refresh token was already used; its family is revoked."
        )
    user = await session.get(User, row.user_id)
    if user is None or user.status != UserStatus.active:
        await revoke_family(session, row.family_id)
        raise invalid
    scopes = frozenset(row.scope.split()) & ROLE_SCOPES[Role(user.role)]
    scope_text = " ".join(sorted(scopes))
    child = await _new_refresh_token(session, settings, user, row.family_id, scope_text)
    return IssuedTokens(
        access_token=user_access_token(codec, settings, user, scopes),
        expires_in=settings.access_token_ttl_seconds,
        scope=scope_text,
        refresh_token=child,
        subject=user.id,
        role=user.role.value,
        clinic_id=user.clinic_id,
    )


async def client_credentials_grant(
    session: AsyncSession,
    codec: JwtCodec,
    settings: Settings,
    *,
    client_id: str,
    client_secret: str,
    scope: str | None,
) -> IssuedTokens:
    invalid = GrantError("invalid_client", "Client authentication failed.")
    try:
        api_client_id = uuid.UUID(client_id)
    except ValueError:
        raise invalid from None
    api_client = await session.get(ApiClient, api_client_id)
    presented = hash_secret(client_secret)
    if api_client is None or not secrets_equal(api_client.secret_hash, presented):
        raise invalid
    if api_client.revoked_at is not None:
        raise invalid
    scopes = _narrow_scopes(scope, frozenset(api_client.scopes) & ALL_SCOPES)
    return IssuedTokens(
        access_token=api_client_access_token(codec, settings, api_client, scopes),
        expires_in=settings.client_token_ttl_seconds,
        scope=" ".join(sorted(scopes)),
        subject=api_client.id,
        role="api_client",
        clinic_id=api_client.clinic_id,
    )


def api_client_access_token(
    codec: JwtCodec, settings: Settings, api_client: ApiClient, scopes: frozenset[str]
) -> str:
    claims = {
        "sub": str(api_client.id),
        "kind": "api_client",
        "clinic": str(api_client.clinic_id),
        "scope": " ".join(sorted(scopes)),
    }
    return codec.encode(claims, typ="access", ttl_seconds=settings.client_token_ttl_seconds)


async def revoke_refresh_token(session: AsyncSession, token: str) -> None:
    """RFC 7009: revoking an unknown token is not an error. Revokes the token's whole family."""
    row = (
        await session.execute(
            select(RefreshToken.family_id).where(RefreshToken.token_hash == hash_secret(token))
        )
    ).scalar_one_or_none()
    if row is not None:
        await revoke_family(session, row)
