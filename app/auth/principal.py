"""Who is calling: the principal decoded from the bearer token, and the policies routes declare."""

import enum
import uuid
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlowPassword, OAuthFlows
from fastapi.security import OAuth2
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from app.auth.models import ApiClient, Role, User, UserStatus
from app.auth.principal_cache import PrincipalCache
from app.core.db import SessionDep
from app.core.errors import Unauthorized
from app.core.idempotency import Scope as IdempotencyScope
from app.core.jwt import TokenError
from app.core.prepared import Prepared
from app.core.unit_of_work import set_actor


class Scope(enum.StrEnum):
    homework_read = "homework:read"
    homework_write = "homework:write"
    fhir_read = "fhir:read"
    audit_read = "audit:read"


SCOPE_MEANINGS = {
    Scope.homework_read.value: "Read homework data: clients, assignments, completions, goals, "
    "metrics, the change feed; subscribe webhooks to events that carry it.",
    Scope.homework_write.value: "Change homework data and the clinic's configuration "
    "(clients, care teams, assignments, goals, users, API clients, webhooks).",
    Scope.fhir_read.value: "Read the FHIR R4 export of a client's record.",
    Scope.audit_read.value: "Read the clinic's audit trail.",
}
ALL_SCOPES = frozenset(Scope)
# What a user's token may carry; a narrower `scope` can be asked for at login.
ROLE_SCOPES: dict[Role, frozenset[str]] = {
    Role.admin: frozenset(ALL_SCOPES),
    Role.therapist: frozenset({Scope.homework_read, Scope.homework_write, Scope.fhir_read}),
    Role.client: frozenset({Scope.homework_read, Scope.homework_write}),
}


@dataclass(frozen=True)
class Principal:
    """A signed-in user or an API client, always inside exactly one clinic."""

    id: uuid.UUID
    clinic_id: uuid.UUID
    role: Role | None  # None for API clients
    scopes: frozenset[str]
    # A user's time zone as the principal check read it: up to PRINCIPAL_CACHE_SECONDS old,
    # so a hint that a read checks against its own statement (`my_zone_hint`).
    timezone: str | None = None

    @property
    def is_api_client(self) -> bool:
        return self.role is None

    @property
    def is_therapist(self) -> bool:
        return self.role == Role.therapist

    @property
    def is_client(self) -> bool:
        return self.role == Role.client

    @property
    def actor_role(self) -> str:
        return self.role.value if self.role else "api_client"


class BearerToken(OAuth2):
    """Reads `Authorization: Bearer <jwt>`; documents both OAuth2 flows in the contract."""

    def __init__(self) -> None:
        flows = OAuthFlows(
            password=OAuthFlowPassword(tokenUrl="/v1/auth/token", scopes=SCOPE_MEANINGS),
            clientCredentials=OAuthFlowClientCredentials(
                tokenUrl="/v1/auth/token", scopes=SCOPE_MEANINGS
            ),
        )
        super().__init__(flows=flows, scheme_name="OAuth2", auto_error=False)

    async def __call__(self, request: HTTPConnection) -> str | None:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return token.strip()


bearer_token = BearerToken()


# The principal check's statements: one indexed lookup, remembered for a few seconds per
# process (`principal_cache`), so that deactivation and revocation act within
# PRINCIPAL_CACHE_SECONDS everywhere (at once in the process that made them).
_USER = Prepared(
    select(User.status, User.clinic_id, User.role, User.timezone).where(
        User.id == bindparam("id", type_=User.id.type)
    )
)
_API_CLIENT = Prepared(
    select(ApiClient.revoked_at, ApiClient.clinic_id, ApiClient.scopes).where(
        ApiClient.id == bindparam("id", type_=ApiClient.id.type)
    )
)
_NOT_FOUND: tuple[Hashable, ...] = ()


async def _access_facts(
    cache: PrincipalCache, session: AsyncSession, kind: str, subject: uuid.UUID
) -> tuple[Any, ...]:
    """The row the access decision reads (empty when there is none), from the cache or the
    database."""
    key = (kind, subject)
    facts = cache.get(key)
    if facts is not None:
        return facts
    lookup = cache.lookup()
    statement = _USER if kind == "user" else _API_CLIENT
    found = await statement.fetch(session, id=subject)
    row = found[0] if found else None
    if row is None:
        facts = _NOT_FOUND
    elif kind == "user":
        facts = tuple(row)
    else:
        facts = (row[0], row[1], frozenset(row[2]))
    lookup.keep(key, facts)
    return facts


async def principal_from_token(request: Request, session: AsyncSession, token: str) -> Principal:
    """The principal a bearer token stands for, checked against the database (or what the
    process read of it less than PRINCIPAL_CACHE_SECONDS ago): an inactive user or a revoked
    API client is refused (401)."""
    try:
        claims = request.app.state.jwt.decode(token, typ="access")
        subject = uuid.UUID(claims["sub"])
        clinic_id = uuid.UUID(claims["clinic"])
        scopes = frozenset(str(claims.get("scope", "")).split())
        kind = claims["kind"]
    except (TokenError, KeyError, ValueError, TypeError):
        raise Unauthorized("The access token is invalid or expired.") from None
    cache: PrincipalCache = request.app.state.principal_cache
    if kind == "user":
        user = await _access_facts(cache, session, kind, subject)
        if not user or user[0] != UserStatus.active or user[1] != clinic_id:
            raise Unauthorized("The account is not active.")
        role = Role(user[2])
        return Principal(subject, clinic_id, role, scopes & ROLE_SCOPES[role], user[3])
    if kind == "api_client":
        api_client = await _access_facts(cache, session, kind, subject)
        if not api_client or api_client[0] is not None or api_client[1] != clinic_id:
            raise Unauthorized("The API client is revoked.")
        return Principal(subject, clinic_id, None, scopes & api_client[2])
    raise Unauthorized("The access token is invalid or expired.")


async def current_principal(
    request: Request,
    session: SessionDep,
    token: Annotated[str | None, Depends(bearer_token)],
) -> Principal:
    if token is None:
        raise Unauthorized(
            "Send an access token: Authorization: Bearer <token>.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    principal = await principal_from_token(request, session, token)
    set_actor(request, principal)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def idempotency_scope(request: Request) -> IdempotencyScope | None:
    """Whose Idempotency-Keys these are: the token's subject and clinic, checked but not looked
    up (the request itself still goes through the full principal check)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    try:
        claims = request.app.state.jwt.decode(token.strip(), typ="access")
        clinic_id = uuid.UUID(str(claims["clinic"]))
    except (TokenError, KeyError, ValueError):
        return None
    return IdempotencyScope(f"{claims.get('kind')}:{claims.get('sub')}", clinic_id)
