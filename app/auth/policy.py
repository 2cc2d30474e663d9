"""The access policy of an operation: who may call it (roles, API clients), with which scope,
and which client data it reaches (its audit resource). Declared once per operation, where the
route is declared, as the type of its `principal` parameter:

    GoalWriter = Annotated[Principal, Depends(Policy(STAFF_AND_CLIENT, WRITE, audit="goal"))]

A token never does more than its scopes allow: every signed-in operation names a scope, and
users need it as much as API clients (a login may narrow its scopes). Objects the caller may
not see are a different matter, answered 404 by the scoped statements of each service.
"""

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request, Response

from app.auth.models import Role
from app.auth.principal import CurrentPrincipal, Principal, Scope, principal_from_token
from app.core.access import AccessRule
from app.core.errors import AppError, Forbidden, field_error

READ, WRITE, FHIR_READ, AUDIT_READ = (
    Scope.homework_read,
    Scope.homework_write,
    Scope.fhir_read,
    Scope.audit_read,
)
EVERYONE = frozenset({Role.admin, Role.therapist, Role.client})
STAFF = frozenset({Role.admin, Role.therapist})
ADMINS = frozenset({Role.admin})
THERAPISTS = frozenset({Role.therapist})
CLIENTS = frozenset({Role.client})
CARE = frozenset({Role.therapist, Role.client})


@dataclass(frozen=True)
class Policy(AccessRule):
    """Roles of users who may call, the scope every caller's token must carry, whether API
    clients (with that scope) may call, and the audit resource (None: no client data)."""

    roles: frozenset[Role]
    scope: Scope
    api_clients: bool = False
    audit: str | None = None
    public: bool = field(default=False, init=False)

    @property
    def audit_resource(self) -> str | None:
        return self.audit

    def required_scopes(self) -> tuple[str, ...]:
        return (self.scope.value,)

    def refusal(self, principal: Principal) -> str | None:
        """Why the principal may not call, or None when it may."""
        if principal.is_api_client:
            if not self.api_clients:
                return "API clients may not use this operation."
        elif principal.role not in self.roles:
            return f"The {principal.role} role may not use this operation."
        if self.scope not in principal.scopes:
            return f"This operation needs the {self.scope} scope."
        return None

    def allows(self, principal: Principal) -> bool:
        return self.refusal(principal) is None

    async def __call__(self, principal: CurrentPrincipal) -> Principal:
        reason = self.refusal(principal)
        if reason is not None:
            raise Forbidden(reason)
        return principal

    def describe(self) -> dict[str, Any]:
        return {
            "roles": sorted(role.value for role in self.roles),
            "api_clients": self.api_clients,
            "scope": self.scope.value,
            "audit": self.audit,
        }


# The policies that routers of several domains share, declared once; a policy only one router
# uses stays with that router.
AdminReader = Annotated[Principal, Depends(Policy(ADMINS, READ))]
AdminWriter = Annotated[Principal, Depends(Policy(ADMINS, WRITE))]
# A client reading their own record (`/v1/me/...`), audited as a read of that user.
ClientSelfReader = Annotated[Principal, Depends(Policy(CLIENTS, READ, audit="user"))]
# The catalogue (templates, programs): not client data, so no audit resource. Everyone reads
# what the statements let them see of it (a client: what was given to them); staff author it.
CatalogueReader = Annotated[Principal, Depends(Policy(EVERYONE, READ, api_clients=True))]
CatalogueAuthor = Annotated[Principal, Depends(Policy(STAFF, WRITE, api_clients=True))]


class ScopeNotHeld(Forbidden):
    slug = "scope-not-held"


def require_scopes(principal: Principal, needed: set[str], loc: list[str | int]) -> None:
    """A caller can never hand out (to an API client, a webhook) a scope its token lacks."""
    missing = sorted(set(needed) - set(principal.scopes))
    if missing:
        detail = f"Your token lacks {', '.join(missing)}; you cannot grant what you do not hold."
        raise ScopeNotHeld(detail, errors=[field_error(loc, detail, "scope")])


async def replay_guard(request: Request) -> Response | None:
    """Before a stored Idempotency-Key answer is replayed: the caller must be able to make the
    request now (active account or unrevoked API client, and the operation's policy). None
    lets the replay through; otherwise the problem to answer instead."""
    route = request.scope.get("route")
    rule = getattr(getattr(route, "original_route", route), "access", None)
    _, _, token = request.headers.get("Authorization", "").partition(" ")
    try:
        async with request.app.state.sessionmaker() as session:
            principal = await principal_from_token(request, session, token.strip())
        if isinstance(rule, Policy):
            reason = rule.refusal(principal)
            if reason is not None:
                raise Forbidden(reason)
    except AppError as exc:
        response: Response = await request.app.exception_handlers[AppError](request, exc)
        return response
    return None
