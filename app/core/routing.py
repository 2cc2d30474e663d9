"""Route and OpenAPI helpers: every route documents its problem answers with the Problem schema."""

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from starlette.routing import Match, compile_path
from starlette.types import Scope

from app.core.access import AccessRule, access_rule_of
from app.core.errors import PROBLEM_MEDIA_TYPE, Problem
from app.core.idempotency import HEADER as IDEMPOTENCY_HEADER
from app.core.ratelimit import rate_limit_response, rate_limited
from app.core.unit_of_work import UnitOfWork

_DESCRIPTIONS = {
    400: "Malformed request (for example a body that is not JSON).",
    401: "Missing, invalid or expired access token.",
    403: "Authenticated, but this role or scope may not use this operation.",
    404: "Not found, or not visible to the caller.",
    409: "Conflict with the current state.",
    412: "`If-Match` does not match the current version.",
    413: "Request body too large.",
    422: "Validation failed; `errors` lists each field.",
    429: "Rate limited; see `Retry-After`.",
    500: "Unexpected error; the body holds only the request id.",
    503: "Not ready (for example the database is unreachable); see `Retry-After`.",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {"model": Problem, "description": _DESCRIPTIONS.get(status, "Error.")}
        for status in statuses
    }


def _has_params(dependant: Any, *kinds: str) -> bool:
    if any(getattr(dependant, kind, None) for kind in kinds):
        return True
    return any(_has_params(sub, *kinds) for sub in dependant.dependencies)


def _route_table(app: Any) -> tuple[frozenset[str], list[tuple[Any, bool, frozenset[str]]]]:
    """Every route's path: the concrete ones, and each one's regex, concreteness and methods."""
    cached = getattr(app.state, "route_table", None)
    if cached is None:
        try:  # FastAPI >= 0.16x keeps included routers nested; this walks them.
            from fastapi.routing import iter_route_contexts

            routes: Any = iter_route_contexts(app.routes)
        except ImportError:
            routes = app.routes
        concrete: set[str] = set()
        table: list[tuple[Any, bool, frozenset[str]]] = []
        for route in routes:
            path, methods = getattr(route, "path", None), getattr(route, "methods", None)
            if not path or not methods:
                continue
            regex, _, convertors = compile_path(path)
            table.append((regex, not convertors, frozenset(methods)))
            if not convertors:
                concrete.add(path)
        cached = app.state.route_table = (frozenset(concrete), table)
    return cached


def allowed_methods(app: Any, path: str) -> list[str] | None:
    """The methods of the resource at `path`, for a 405's `Allow`; a concrete path wins over a
    template that also matches it, as in OpenAPI. None when no route matches."""
    matching = [(c, m) for regex, c, m in _route_table(app)[1] if regex.match(path)]
    chosen = [m for c, m in matching if c] or [m for _, m in matching]
    return sorted(frozenset().union(*chosen)) if chosen else None


class ProblemRoute(APIRoute):
    """Adds the problem answers every route can give, so the contract lists them."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        # The operation's access rule (exactly one; a test fails for a route without): who
        # may call, and which client data it reaches (its audit resource).
        self.access: AccessRule | None = access_rule_of(self.dependant)
        self.audit_resource = self.access.audit_resource if self.access else None
        defaults = [500, 503]
        if self.access is not None and not self.access.public:
            defaults += [401, 403]
        if _has_params(
            self.dependant, "query_params", "path_params", "header_params", "body_params"
        ):
            defaults.append(422)
        if _has_params(self.dependant, "body_params"):
            defaults += [400, 413]
        for status in defaults:
            self.responses.setdefault(status, problem_responses(status)[status])

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        """A concrete path is its own resource, as in OpenAPI: `GET /v1/completions/batch` is
        405 (only POST is defined there), not `GET /v1/completions/{completion_id}` with a
        malformed id."""
        match, child_scope = super().matches(scope)
        if (
            match is Match.FULL
            and self.param_convertors
            and "app" in scope
            and scope["path"] in _route_table(scope["app"])[0]
        ):
            return Match.NONE, {}
        return match, child_scope

    def get_route_handler(self) -> Callable[..., Any]:
        handler = super().get_route_handler()

        async def wrapped(request: Request) -> Response:
            if await rate_limited(request):
                return await rate_limit_response(request)
            # audit_resource is set by __init__ once super() built the handler.
            return await UnitOfWork(request, self.audit_resource).run(handler)

        return wrapped


def _problem_media_type(spec: dict[str, Any]) -> None:
    ref = "#/components/schemas/Problem"
    for path_item in spec.get("paths", {}).values():
        for operation in path_item.values():
            for response in operation.get("responses", {}).values():
                content = response.get("content", {})
                json_body = content.get("application/json")
                if json_body and json_body.get("schema", {}).get("$ref") == ref:
                    content[PROBLEM_MEDIA_TYPE] = content.pop("application/json")


def _idempotency_header(spec: dict[str, Any]) -> None:
    parameter = {
        "name": IDEMPOTENCY_HEADER,
        "in": "header",
        "required": False,
        "description": "Makes a retry safe: the first answer for this key (per caller) is "
        "stored for 24 hours and replayed byte for byte with `Idempotent-Replayed: true`. "
        "Another body with the same key is 422; a retry while the first still runs is 409. "
        "Ignored by the unauthenticated token endpoints. Printable ASCII without spaces.",
        # What idempotency._valid_key accepts: 1 to 255 characters from `!` to `~`.
        "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
    }
    for path_item in spec.get("paths", {}).values():
        operation = path_item.get("post")
        if operation is not None:
            operation.setdefault("parameters", []).append(parameter)
            operation["responses"].setdefault(
                "409",
                {
                    "description": _DESCRIPTIONS[409],
                    "content": {
                        PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}
                    },
                },
            )


def _access(app: FastAPI, spec: dict[str, Any]) -> None:
    """Each operation names the scope its access rule needs (`security`) and the whole rule
    (`x-access`), so the contract tells a client which token an operation takes."""
    for path, methods, rule in _access_rules(app):
        for method in methods:
            operation = spec.get("paths", {}).get(path, {}).get(method.lower())
            if operation is None:
                continue
            operation["x-access"] = rule.describe()
            if rule.public:
                operation["security"] = []
            else:
                operation["security"] = [{"OAuth2": list(rule.required_scopes())}]


def _access_rules(app: Any) -> list[tuple[str, set[str], AccessRule]]:
    try:
        from fastapi.routing import iter_route_contexts

        routes: Any = iter_route_contexts(app.routes)
    except ImportError:  # older FastAPI: included routes are flat
        routes = app.routes
    found = []
    for route in routes:
        original = getattr(route, "original_route", route)
        rule = getattr(original, "access", None)
        if rule is not None and route.path_format and route.methods:
            found.append((route.path_format, set(route.methods), rule))
    return found


def install_openapi(app: FastAPI, **info: Any) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(routes=app.routes, **info)
            _problem_media_type(spec)
            _idempotency_header(spec)
            _access(app, spec)
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
