"""Password checks an attacker would repeat, throttled per account: the password grant and the
change of one's own password.

Each attempt is counted before the password is verified (`Throttle.reserve`), so a burst of
guesses verifies at most `login_max_failures` of them per `login_window_seconds`, across
processes when the counters live in Redis; a right password clears the account's count. An
exhausted budget is a 429 with Retry-After (`TooManyRequests`), raised before any argon2 work.
"""

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.service import check_current_password, normalize_email, replace_password
from app.auth.tokens import IssuedTokens, LoginFailed, password_grant, revoke_user_tokens
from app.core import audit
from app.core.config import Settings
from app.core.jwt import JwtCodec
from app.core.ratelimit import Limiter, Throttle


def _password_throttle(limiter: Limiter, settings: Settings, name: str, detail: str) -> Throttle:
    """Wrong passwords per account and window (login_max_failures, login_window_seconds)."""
    return Throttle(
        limiter, name, settings.login_max_failures, settings.login_window_seconds, detail=detail
    )


async def password_login(
    session: AsyncSession,
    codec: JwtCodec,
    settings: Settings,
    limiter: Limiter,
    *,
    email: str,
    password: str,
    scope: str | None,
    clinic_id: uuid.UUID | None,
) -> IssuedTokens:
    """The password grant, throttled per email. A wrong password raises `LoginFailed` (and
    names, for the audit row, the one membership it was about when there is one)."""
    throttle = _password_throttle(
        limiter,
        settings,
        "login",
        "Too many failed logins for this account; wait before trying again.",
    )
    account = normalize_email(email)
    await throttle.reserve(account)
    try:
        issued = await password_grant(
            session,
            codec,
            settings,
            email=email,
            password=password,
            scope=scope,
            clinic_id=clinic_id,
        )
    except LoginFailed as exc:
        if exc.account is not None:
            audit.note(
                actor_id=exc.account.id,
                actor_role=exc.account.role.value,
                clinic_id=exc.account.clinic_id,
                resource_id=exc.account.id,
            )
        raise
    await throttle.clear(account)
    return issued


async def change_password(
    session: AsyncSession,
    settings: Settings,
    limiter: Limiter,
    user_id: uuid.UUID,
    *,
    current: str,
    new: str,
) -> None:
    """Replace the user's password after checking the current one, throttled per account like
    logins (a stolen access token does not buy unlimited guesses); every refresh token of the
    account is revoked."""
    throttle = _password_throttle(
        limiter,
        settings,
        "password-change",
        "Too many wrong passwords for this account; wait before trying again.",
    )
    account = str(user_id)
    await throttle.reserve(account)
    verified = await check_current_password(session, user_id, current)
    await throttle.clear(account)
    await replace_password(session, user_id, verified, new)
    await revoke_user_tokens(session, user_id)
