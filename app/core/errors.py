"""One error family rendered as RFC 9457 problem details, and the handlers that render every error."""

import logging
from collections.abc import Awaitable, Callable, Sequence
from http import HTTPStatus
from typing import Any, TypeVar, cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ExceptionHandler

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:homework:problem:"

logger = logging.getLogger("homework.errors")


class ValidationErrorItem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


def field_error(loc: Sequence[str | int], msg: str, type_: str) -> dict[str, Any]:
    """One entry of a problem's `errors`: where the input is wrong (`["body", "email"]`), what
    is wrong with it, and a machine-readable kind."""
    return {"loc": list(loc), "msg": msg, "type": type_}


class Problem(BaseModel):
    """RFC 9457 problem details. Extra members (such as `existing_id`) may appear."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=["urn:homework:problem:not-found"])
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    request_id: str | None = None
    errors: list[ValidationErrorItem] | None = None


class AppError(Exception):
    """Base of every error the service raises on purpose. The status lives on the class."""

    status: int = 500
    slug: str = "internal-error"
    title: str = "Internal Server Error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra


class Unauthorized(AppError):
    status, slug, title = 401, "unauthorized", "Unauthorized"

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        headers = kwargs.pop("headers", None) or {}
        headers.setdefault("WWW-Authenticate", 'Bearer error="invalid_token"')
        super().__init__(detail, headers=headers, **kwargs)


class Forbidden(AppError):
    status, slug, title = 403, "forbidden", "Forbidden"


class NotFound(AppError):
    status, slug, title = 404, "not-found", "Not Found"


class Conflict(AppError):
    status, slug, title = 409, "conflict", "Conflict"


class PreconditionFailed(AppError):
    status, slug, title = 412, "precondition-failed", "Precondition Failed"


class UnsupportedMediaType(AppError):
    """A body in a media type the operation does not take; `accepted` is the one it does."""

    status, slug, title = 415, "unsupported-media-type", "Unsupported Media Type"

    def __init__(self, accepted: str, *, method: str, **kwargs: Any) -> None:
        headers = {_ACCEPT_HEADERS[method]: accepted} if method in _ACCEPT_HEADERS else None
        super().__init__(
            f"This operation takes a body of type {accepted}; send it with "
            f"`Content-Type: {accepted}`.",
            headers=headers,
            accepted=accepted,
            **kwargs,
        )


# The header that names the media types a method's body may have (RFC 5789 §3.1; the W3C
# Linked Data Platform's Accept-Post). PUT has none.
_ACCEPT_HEADERS = {"POST": "Accept-Post", "PATCH": "Accept-Patch"}


class Unprocessable(AppError):
    status, slug, title = 422, "validation-error", "Validation Error"


class TooManyRequests(AppError):
    status, slug, title = 429, "rate-limited", "Too Many Requests"

    def __init__(self, detail: str | None = None, *, retry_after: int, **kwargs: Any) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))}, **kwargs)


class ServiceUnavailable(AppError):
    status, slug, title = 503, "service-unavailable", "Service Unavailable"

    def __init__(self, detail: str | None = None, *, retry_after: int = 5, **kwargs: Any) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)}, **kwargs)


def set_request_id(scope: Any, request_id: str) -> None:
    """Remember the request's id (the request-context middleware calls this first)."""
    scope.setdefault("state", {})["request_id"] = request_id


def request_id_of(request: Request | Any) -> str | None:
    """The request's id, from a Request or a raw ASGI scope."""
    state = (
        request.get("state", {}) if isinstance(request, dict) else request.scope.get("state", {})
    )
    return state.get("request_id") if isinstance(state, dict) else None


def problem_body(
    status: int,
    *,
    slug: str | None = None,
    title: str | None = None,
    detail: str | None = None,
    instance: str | None = None,
    request_id: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + (slug or phrase.lower().replace(" ", "-")),
        "title": title or phrase,
        "status": status,
        "detail": detail,
        "instance": instance,
        "request_id": request_id,
    }
    if errors is not None:
        body["errors"] = errors
    if extra:
        body.update({k: v for k, v in extra.items() if k not in body})
    return body


def problem_response(
    status: int, headers: dict[str, str] | None = None, **fields: Any
) -> JSONResponse:
    return JSONResponse(
        problem_body(status, **fields),
        status_code=status,
        headers=headers,
        media_type=PROBLEM_MEDIA_TYPE,
    )


def _jsonable_errors(raw: list[Any]) -> list[dict[str, Any]]:
    # Never echo the rejected input back: it may hold PHI or a password.
    return [
        field_error(e.get("loc", ()), str(e.get("msg", "")), str(e.get("type", ""))) for e in raw
    ]


def request_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """A validation error's entries as a problem's `errors` (without the rejected input)."""
    return _jsonable_errors(list(exc.errors()))


def error_summary(errors: list[dict[str, Any]]) -> str:
    """A problem's `detail` for these `errors`: where and what, for the first five."""
    parts = [".".join(str(p) for p in e["loc"]) + ": " + e["msg"] for e in errors[:5]]
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(parts) + more


async def _app_error(request: Request, exc: AppError) -> JSONResponse:
    return problem_response(
        exc.status,
        headers=exc.headers,
        slug=exc.slug,
        title=exc.title,
        detail=exc.detail,
        instance=request.url.path,
        request_id=request_id_of(request),
        errors=exc.errors,
        extra=exc.extra,
    )


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = _jsonable_errors(list(exc.errors()))
    if any(e["type"] == "json_invalid" for e in errors):
        return problem_response(
            400,
            slug="malformed-json",
            title="Malformed JSON",
            detail="The request body is not valid JSON.",
            instance=request.url.path,
            request_id=request_id_of(request),
            errors=[e for e in errors if e["type"] == "json_invalid"],
        )
    return problem_response(
        422,
        slug="validation-error",
        title="Validation Error",
        detail=error_summary(errors),
        instance=request.url.path,
        request_id=request_id_of(request),
        errors=errors,
    )


_HTTP_SLUGS = {413: "payload-too-large", 405: "method-not-allowed", 404: "not-found"}


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    detail = exc.detail if isinstance(exc.detail, str) else None
    if exc.status_code == 404 and detail == "Not Found":
        detail = "No resource at this path."
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        from app.core.routing import allowed_methods

        # Starlette names only the first route it tried; the resource may have several.
        methods = allowed_methods(request.app, request.url.path)
        if methods:
            headers["Allow"] = ", ".join(methods)
        if detail == "Method Not Allowed":
            detail = "This path does not accept this method; see the Allow header."
    return problem_response(
        exc.status_code,
        slug=_HTTP_SLUGS.get(exc.status_code),
        headers=headers,
        detail=detail,
        instance=request.url.path,
        request_id=request_id_of(request),
    )


# PostgreSQL text and jsonb cannot hold U+0000: "invalid byte sequence" (22021) and
# "unsupported Unicode escape sequence" (22P05). That is the input's fault, not the server's.
_NUL_SQLSTATES = frozenset({"22021", "22P05"})


def sqlstate_of(exc: BaseException) -> str | None:
    """The SQLSTATE of a driver error wrapped by SQLAlchemy (asyncpg keeps it on the cause)."""
    orig = getattr(exc, "orig", None)
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if code is None and orig is not None:
        code = getattr(getattr(orig, "__cause__", None), "sqlstate", None)
    return code


def _is_nul_error(exc: BaseException) -> bool:
    return isinstance(exc, DBAPIError) and sqlstate_of(exc) in _NUL_SQLSTATES


# The server going away or not taking connections yet: connection exceptions (class 08),
# admin/crash shutdown and "cannot connect now" while it starts or stops (57P01-57P03), too
# many connections (53300). asyncpg raises some of these as plain DBAPIErrors.
_UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})


def _is_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeoutError | ConnectionError):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    sqlstate = sqlstate_of(exc) or ""
    return sqlstate.startswith("08") or sqlstate in _UNAVAILABLE_SQLSTATES


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    if _is_nul_error(exc):
        where = "query" if any("\x00" in v for v in request.query_params.values()) else "body"
        message = "Text must not contain the NUL character (U+0000)."
        return problem_response(
            422,
            slug="validation-error",
            title="Validation Error",
            detail=message,
            instance=request.url.path,
            request_id=request_id_of(request),
            errors=[field_error([where], message, "nul_character")],
        )
    if not _is_unavailable(exc):
        return internal_error_response(request_id_of(request), exc)
    logger.warning(
        "database unavailable",
        extra={"request_id": request_id_of(request), "error": type(exc).__name__},
    )
    return problem_response(
        503,
        headers={"Retry-After": "5"},
        slug="database-unavailable",
        title="Service Unavailable",
        detail="The database is not reachable right now; retry shortly.",
        instance=request.url.path,
        request_id=request_id_of(request),
    )


def internal_error_response(request_id: str | None, exc: BaseException) -> JSONResponse:
    """Log an unexpected error with its request id and answer a body that reveals nothing."""
    logger.error(
        "unhandled error",
        exc_info=(type(exc), exc, exc.__traceback__),
        extra={"request_id": request_id, "error": type(exc).__name__},
    )
    return problem_response(
        500,
        slug="internal-error",
        detail="An unexpected error occurred. Quote the request id when reporting it.",
        request_id=request_id,
    )


async def _stale(request: Request, exc: StaleDataError) -> JSONResponse:
    # Two writers read the same version; the second UPDATE matched no row. Same answer as a
    # stale If-Match: fetch again and retry.
    return problem_response(
        412,
        slug="precondition-failed",
        detail="The resource changed while this request was running. Fetch it and retry.",
        instance=request.url.path,
        request_id=request_id_of(request),
    )


def status_of(exc: BaseException) -> int:
    """The status the handlers will answer for `exc` (for audit rows written before they run)."""
    if isinstance(exc, AppError):
        return exc.status
    if isinstance(exc, StarletteHTTPException):
        return exc.status_code
    if isinstance(exc, RequestValidationError):
        return 400 if any(e.get("type") == "json_invalid" for e in exc.errors()) else 422
    if isinstance(exc, StaleDataError):
        return 412
    if _is_nul_error(exc):
        return 422
    if _is_unavailable(exc):
        return 503
    return 500


E = TypeVar("E", bound=Exception)


def _handle(
    app: FastAPI, exc_type: type[E], handler: Callable[[Request, E], Awaitable[JSONResponse]]
) -> None:
    # Starlette calls a handler only with instances of the type it is registered for, which its
    # signature (any Exception) cannot say; here the pair is checked instead.
    app.add_exception_handler(exc_type, cast(ExceptionHandler, handler))


def install_error_handlers(app: FastAPI) -> None:
    _handle(app, AppError, _app_error)
    _handle(app, RequestValidationError, _validation_error)
    _handle(app, StarletteHTTPException, _http_error)
    _handle(app, StaleDataError, _stale)
    for exc_type in (OperationalError, DBAPIError, PoolTimeoutError, ConnectionError):
        _handle(app, exc_type, _database_unavailable)
