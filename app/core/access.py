"""Access rules as route dependencies: every operation declares exactly one, where it is declared.

`core` knows no roles or scopes; it knows that a rule exists, whether the operation is public,
which scopes it names for the contract, and which audit resource the operation touches (None:
it reaches no client data). The `auth` package defines the rule for signed-in callers; public
operations use `Public`. `ProblemRoute` finds the rule in the route's dependencies, documents
it and audits by it; a test fails for an operation without one.
"""

from collections.abc import Iterator
from typing import Any


class AccessRule:
    """The base of every access rule. Subclasses are callables FastAPI resolves as dependencies."""

    public: bool = False

    @property
    def audit_resource(self) -> str | None:
        return None

    def required_scopes(self) -> tuple[str, ...]:
        return ()

    def describe(self) -> dict[str, Any]:
        """What the contract says about the rule (the operation's `x-access`)."""
        return {"public": self.public, "audit": self.audit_resource}


class Public(AccessRule):
    """Anyone may call the operation, without a token."""

    public = True

    def __init__(self, *, audit: str | None = None) -> None:
        self.audit = audit

    @property
    def audit_resource(self) -> str | None:
        return self.audit

    def __repr__(self) -> str:
        return f"Public(audit={self.audit!r})"

    async def __call__(self) -> None:
        return None


def access_rules_of(dependant: Any) -> Iterator[AccessRule]:
    """Every access rule in a route's dependency tree (a route must have exactly one)."""
    for sub in getattr(dependant, "dependencies", ()):
        if isinstance(sub.call, AccessRule):
            yield sub.call
        yield from access_rules_of(sub)


def access_rule_of(dependant: Any) -> AccessRule | None:
    rules = list(dict.fromkeys(access_rules_of(dependant)))
    return rules[0] if len(rules) == 1 else None


def render_access_table(spec: dict[str, Any]) -> str:
    """docs/access.md: every operation's access rule, as the contract states it (`x-access`)."""
    lines = [
        "# Who may call what",
        "",
        "Generated from each operation's access policy by `homework-api openapi` (the same",
        "facts are in `openapi/openapi.json`: `security` names the scope, `x-access` the rule).",
        "Users need the scope as much as API clients: a token narrowed at login (`scope=`) can",
        "do only what its scopes allow. Objects outside the caller's clinic, care team or own",
        "record are 404, whatever the policy. *Audited* names the audit resource of operations",
        "that reach client data.",
        "",
        "| Operation | Method and path | Scope | Roles | API clients | Audited |",
        "|---|---|---|---|---|---|",
    ]
    for path, item in sorted(spec.get("paths", {}).items()):
        for method, operation in sorted(item.items()):
            access = operation.get("x-access", {})
            if access.get("public"):
                scope, roles, api = "none (public)", "anyone", "yes"
            else:
                scope = f"`{access.get('scope')}`"
                roles = ", ".join(access.get("roles", [])) or "none"
                api = "yes" if access.get("api_clients") else "no"
            lines.append(
                f"| `{operation.get('operationId')}` | {method.upper()} `{path}` | {scope} "
                f"| {roles} | {api} | {access.get('audit') or ''} |"
            )
    return "\n".join(lines) + "\n"
