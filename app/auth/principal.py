"""Who is calling: the principal decoded from the bearer token, and the policies routes declare."""

import enum
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlowPassword, OAuthFlows
from fastapi.security import OAuth2
from sqlalchemy import select

from app.auth.models import ApiClient, Role, User, UserStatus
from app.core.db import SessionDep
from app.core.errors import Forbidden, Unauthorized
from app.core.jwt import TokenError


class Scope(enum.StrEnum):
    homework_read = "homework:read"
    homework_write = "homework:write"
    fhir_read = "fhir:read"
    audit_read = "audit:read"


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

    @property
    def is_api_client(self) -> bool:
        return self.role is None

    @property
    def is_admin(self) -> bool:
        return self.role == Role.admin

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
            password=OAuthFlowPassword(tokenUrl="/v1/auth/token"),
            clientCredentials=OAuthFlowClientCredentials(tokenUrl="/v1/auth/token"),
        )
        super().__init__(flows=flows, scheme_name="OAuth2", auto_error=False)

    async def __call__(self, request: Request) -> str | None:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return token.strip()


bearer_token = BearerToken()


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
    try:
        claims = request.app.state.jwt.decode(token, typ="access")
        subject = uuid.UUID(claims["sub"])
        clinic_id = uuid.UUID(claims["clinic"])
        scopes = frozenset(str(claims.get("scope", "")).split())
        kind = claims["kind"]
    except (TokenError, KeyError, ValueError, TypeError):
        raise Unauthorized("The access token is invalid or expired.") from None
    # One indexed lookup per request, so deactivation and revocation take effect at once.
    if kind == "user":
        user = await session.get(User, subject)
        if user is None or user.status != UserStatus.active or user.clinic_id != clinic_id:
            raise Unauthorized("The account is not active.")
        # Kept for the request: the session's identity map holds rows only weakly, and a
        # client reading their own record then finds it there without another query.
        request.state.user = user
        principal = Principal(subject, clinic_id, Role(user.role), scopes & ROLE_SCOPES[user.role])
    elif kind == "api_client":
        row = (
            await session.execute(
                select(ApiClient.revoked_at, ApiClient.clinic_id, ApiClient.scopes).where(
                    ApiClient.id == subject
                )
            )
        ).one_or_none()
        if row is None or row.revoked_at is not None or row.clinic_id != clinic_id:
            raise Unauthorized("The API client is revoked.")
        principal = Principal(subject, clinic_id, None, scopes & frozenset(row.scopes))
    else:
        raise Unauthorized("The access token is invalid or expired.")
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def idempotency_scope(request: Request) -> str | None:
    """Whose Idempotency-Keys these are: the token's subject, checked but not looked up (the
    request itself still goes through the full principal check)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    try:
        claims = request.app.state.jwt.decode(token.strip(), typ="access")
    except TokenError:
        return None
    return f"{claims.get('kind')}:{claims.get('sub')}"


def allow(
    *roles: Role, scope: Scope | None = None, api_clients: bool = True
) -> Callable[[Principal], Coroutine[Any, Any, Principal]]:
    """A dependency: the caller must have one of `roles`, or be an API client with `scope`
    (when `api_clients` and a scope are given). Users need the scope too: their tokens carry
    their role's scopes unless narrowed at login."""

    async def policy(principal: CurrentPrincipal) -> Principal:
        if principal.is_api_client:
            if scope is None or not api_clients:
                raise Forbidden("API clients may not use this operation.")
        elif principal.role not in roles:
            raise Forbidden(f"The {principal.role} role may not use this operation.")
        if scope is not None and scope not in principal.scopes:
            raise Forbidden(f"This operation needs the {scope} scope.")
        return principal

    return policy


Anyone = Annotated[
    Principal, Depends(allow(Role.admin, Role.therapist, Role.client, scope=Scope.homework_read))
]
AnyUser = Annotated[Principal, Depends(allow(Role.admin, Role.therapist, Role.client))]
AdminOnly = Annotated[Principal, Depends(allow(Role.admin))]
StaffReader = Annotated[
    Principal, Depends(allow(Role.admin, Role.therapist, scope=Scope.homework_read))
]
StaffWriter = Annotated[
    Principal, Depends(allow(Role.admin, Role.therapist, scope=Scope.homework_write))
]
AdminReader = Annotated[Principal, Depends(allow(Role.admin, scope=Scope.homework_read))]
AdminWriter = Annotated[Principal, Depends(allow(Role.admin, scope=Scope.homework_write))]
