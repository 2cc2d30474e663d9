"""Route and OpenAPI helpers: every route documents its problem answers with the Problem schema."""

import email.message
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request, Response, params
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, APIRouter
from starlette.routing import Match, compile_path
from starlette.types import Scope

from app.core.access import AccessRule, access_rule_of
from app.core.errors import PROBLEM_MEDIA_TYPE, Problem, UnsupportedMediaType
from app.core.idempotency import HEADER as IDEMPOTENCY_HEADER
from app.core.ratelimit import Unlimited, rate_limit_response, rate_limited
from app.core.unit_of_work import Handler, UnitOfWork

JSON_MEDIA_TYPE = "application/json"
FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

_DESCRIPTIONS = {
    400: "Malformed request (for example a body that is not JSON).",
    401: "Missing, invalid or expired access token.",
    403: "Authenticated, but this role or scope may not use this operation.",
    404: "Not found, or not visible to the caller.",
    409: "Conflict with the current state, or a request with the same `Idempotency-Key` is "
    "still running.",
    412: "`If-Match` does not match the current version, or the resource changed while this "
    "request ran; fetch it and retry.",
    413: "Request body too large.",
    415: "The body is not in the media type this operation takes (see `Accept-Post` or "
    "`Accept-Patch`, and the problem's `accepted`).",
    422: "Validation failed; `errors` lists each field.",
    429: "Rate limited; retry after `Retry-After` seconds.",
    500: "Unexpected error; the body holds only the request id.",
    503: "Not available right now (the database is unreachable, or the audit trail could not "
    "be written); retry after `Retry-After` seconds.",
}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    }
}
_ACCEPT = {
    method: {
        header: {
            "description": "The media type the body must have.",
            "schema": {"type": "string"},
        }
    }
    for method, header in (("POST", "Accept-Post"), ("PATCH", "Accept-Patch"))
}


def problem_responses(*statuses: int, method: str | None = None) -> dict[int | str, dict[str, Any]]:
    """The contract's entries for these error statuses: a Problem body, and the headers that
    come with it (`Retry-After` on 429 and 503; `Accept-Post`/`Accept-Patch` on 415)."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        response: dict[str, Any] = {
            "model": Problem,
            "description": _DESCRIPTIONS.get(status, "Error."),
        }
        if status in (429, 503):
            response["headers"] = _RETRY_AFTER
        elif status == 415 and method in _ACCEPT:
            response["headers"] = _ACCEPT[method]
        responses[status] = response
    return responses


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


def body_media_type(route: APIRoute) -> str | None:
    """The media type of the operation's request body: JSON, a form, or None (no body)."""
    if route.body_field is None:
        return None
    return (
        FORM_MEDIA_TYPE if isinstance(route.body_field.field_info, params.Form) else JSON_MEDIA_TYPE
    )


def error_statuses(route: "ProblemRoute") -> set[int]:
    """Every error status an operation can answer, from what the operation is: the one place
    the contract's error answers come from (a route adds only the conflicts of its own domain).

    - any: 500 (unexpected), 503 (database unreachable, audit trail not written; Retry-After)
      and 413 (the body-size limit is checked on every request, before routing);
    - rate limited (every route but the health probes): 429 with Retry-After;
    - signed in (its access rule is not public): 401, 403;
    - parameters of any kind: 422;
    - a body: 400 (does not parse), 415 (another media type), 422;
    - a path parameter (an id): 404;
    - a write: 412 (a stale `If-Match`, or the row changed while the request ran);
    - POST: 409 and 422 (`Idempotency-Key` in progress, or reused with another body).
    """
    statuses = {413, 500, 503}
    if not isinstance(route, Unlimited):
        statuses.add(429)
    if route.access is not None and not route.access.public:
        statuses |= {401, 403}
    kinds = ("query_params", "path_params", "header_params", "cookie_params", "body_params")
    if _has_params(route.dependant, *kinds):
        statuses.add(422)
    if body_media_type(route) is not None:
        statuses |= {400, 415, 422}
    if _has_params(route.dependant, "path_params"):
        statuses.add(404)
    methods = route.methods or set()
    if methods & UNSAFE_METHODS:
        statuses.add(412)
    if "POST" in methods:
        statuses |= {409, 422}
    return statuses


def _content_type(request: Request) -> str | None:
    """The request's media type, lowercased and without parameters; None without a body."""
    length = request.headers.get("content-length")
    has_body = "transfer-encoding" in request.headers or (
        length is not None and length.strip() not in ("", "0")
    )
    if not has_body:
        return None
    message = email.message.Message()
    message["content-type"] = request.headers.get("content-type", "")
    # An absent or unparsable Content-Type reads as text/plain (RFC 2045 §5.2).
    return message.get_content_type()


def _takes(media_type: str, content_type: str) -> bool:
    if media_type == JSON_MEDIA_TYPE:  # and any `+json` type, as FastAPI parses those as JSON
        return content_type == JSON_MEDIA_TYPE or (
            content_type.startswith("application/") and content_type.endswith("+json")
        )
    return content_type == media_type


class ProblemRoute(APIRoute):
    """Documents every error answer the operation can give (`error_statuses`), refuses a body
    in another media type (415), and runs the operation through its unit of work."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        # The operation's access rule (exactly one; a test fails for a route without): who
        # may call, and which client data it reaches (its audit resource).
        self.access: AccessRule | None = access_rule_of(self.dependant)
        self.audit_resource = self.access.audit_resource if self.access else None
        self.body_media_type = body_media_type(self)
        method = next(iter(self.methods)) if self.methods and len(self.methods) == 1 else None
        for status, response in problem_responses(
            *sorted(error_statuses(self)), method=method
        ).items():
            self.responses.setdefault(status, response)

    def unsupported_media_type(self, request: Request, accepted: str) -> Response:
        """The answer to a body in another media type: a 415 problem (a route class with an
        error dialect of its own answers in that instead)."""
        raise UnsupportedMediaType(accepted, method=request.method)

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

    def operation_handler(self) -> Handler:
        """The operation itself (FastAPI's handler: read the body, solve the dependencies, call
        the endpoint), which runs inside the unit of work."""
        return super().get_route_handler()

    def get_route_handler(self) -> Callable[..., Any]:
        handler = self.operation_handler()

        async def wrapped(request: Request) -> Response:
            if await rate_limited(request):
                return await rate_limit_response(request)
            if self.body_media_type is not None:
                content_type = _content_type(request)
                if content_type is not None and not _takes(self.body_media_type, content_type):
                    return self.unsupported_media_type(request, self.body_media_type)
            # audit_resource is set by __init__ once super() built the handler.
            return await UnitOfWork(request, self.audit_resource).run(handler)

        return wrapped


def _literal_heads(paths: list[str]) -> tuple[str, ...]:
    """The text each path starts with before its first parameter, keeping only those no
    shorter one is part of: a path one of them is not in can match none of `paths`."""
    heads: list[str] = []
    for head in sorted({path.split("{", 1)[0] for path in paths}, key=lambda h: (len(h), h)):
        if not any(kept in head for kept in heads):
            heads.append(head)
    return tuple(heads)


class DomainRouter(APIRouter):
    """A domain's router (routes of the class `ProblemRoute` unless told otherwise) that
    declines a request none of its paths can match in one step.

    FastAPI selects an included router by walking its routes one by one, so a request for the
    tenth router costs a match attempt on every route of the nine before it. Every path a
    route matches holds the route's text before its first parameter, so a request path that
    holds none of these heads is no match for the router, answered without the walk."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("route_class", ProblemRoute)
        super().__init__(**kwargs)
        self._heads: tuple[int, tuple[str, ...]] = (-1, ())

    def literal_heads(self) -> tuple[str, ...]:
        """The heads of its routes' paths (recomputed when routes were added)."""
        count, heads = self._heads
        if count != len(self.routes):
            paths = [getattr(route, "path", None) or "/" for route in self.routes]
            heads = _literal_heads(paths)
            self._heads = (len(self.routes), heads)
        return heads

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        path = scope.get("path", "")
        if not any(head in path for head in self.literal_heads()):
            return Match.NONE, {}
        return super().matches(scope)


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
        if operation is not None:  # its 409 and 422 are in `error_statuses`
            operation.setdefault("parameters", []).append(parameter)


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


def _split_schema_titles(spec: dict[str, Any]) -> None:
    """A model read and written differently (a request may leave out a defaulted field that
    every answer carries: `Schema` sets `json_schema_serialization_defaults_required`) appears
    twice, as `X-Input` and `X-Output`; each gets its own title, for the generators that name
    their classes by title."""
    for name, schema in spec.get("components", {}).get("schemas", {}).items():
        if name.endswith(("-Input", "-Output")):
            schema["title"] = name


def install_openapi(app: FastAPI, **info: Any) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(routes=app.routes, **info)
            _split_schema_titles(spec)
            _problem_media_type(spec)
            _idempotency_header(spec)
            _access(app, spec)
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
