"""Every status an operation can answer is in the contract, with the headers that come with it.

Two ways of finding what an operation can answer, both compared with `app.openapi()`:

- from the app itself: the middleware and error handlers it installs, what each route is (signed
  in or public, rate limited, with a body, path ids, a write, a POST), and the `AppError`s that
  the route's dependencies and endpoint raise (read from their source);
- from real answers: requests that are refused with 413, 415, 429 and 503.
"""

import ast
import inspect
import textwrap
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi.routing import iter_route_contexts
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm.exc import StaleDataError

from app.core.errors import AppError
from app.core.middleware import BodySizeLimitMiddleware
from app.core.ratelimit import Unlimited
from app.core.routing import ProblemRoute
from app.main import create_app
from tests.conftest import empty_all_tables, make_settings
from tests.factories import PASSWORD, build_world

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def _operations(app: Any) -> Iterator[tuple[str, str, ProblemRoute, Any]]:
    """(method, path, route, its context under the app's prefixes) of every documented route."""
    for context in iter_route_contexts(app.routes):
        route = getattr(context, "original_route", context)
        if not getattr(route, "include_in_schema", False):
            continue
        assert isinstance(route, ProblemRoute), f"{context.path_format} is no ProblemRoute"
        for method in context.methods:
            yield method, context.path_format, route, context


def _calls(dependant: Any) -> Iterator[Callable[..., Any]]:
    if dependant.call is not None:
        yield dependant.call
    for sub in dependant.dependencies:
        yield from _calls(sub)


def _raised(call: Callable[..., Any]) -> set[int]:
    """The statuses of the `AppError`s that `call` raises itself (`raise Forbidden(...)`)."""
    function = call if inspect.isfunction(call) or inspect.ismethod(call) else type(call).__call__
    function = inspect.unwrap(function)
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError):
        return set()
    statuses = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and node.exc is not None:
            target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(target, ast.Name):
                raised = function.__globals__.get(target.id)
                if isinstance(raised, type) and issubclass(raised, AppError):
                    statuses.add(raised.status)
    return statuses


def _has(dependant: Any, kind: str) -> bool:
    return bool(getattr(dependant, kind)) or any(_has(sub, kind) for sub in dependant.dependencies)


def _can_answer(app: Any, method: str, route: ProblemRoute, context: Any) -> dict[int, str]:
    """What the operation can answer, and why, from what the app installs and the route is."""
    why: dict[int, str] = {500: "any unexpected error (the request-context middleware)"}
    middleware = {entry.cls for entry in app.user_middleware}
    if BodySizeLimitMiddleware in middleware:
        why[413] = "the body-size limit applies to every request"
    if OperationalError in app.exception_handlers:
        why[503] = "the database is unreachable (or the audit trail is not written)"
    if not isinstance(route, Unlimited):
        why[429] = "rate limited"
    dependant = context.dependant
    if any(_has(dependant, kind) for kind in ("query_params", "path_params", "header_params")):
        why[422] = "a parameter fails validation"
    if route.body_field is not None:
        why.update({400: "the body does not parse", 415: "another media type", 422: "body"})
    if _has(dependant, "path_params"):
        why[404] = "the path names an id that does not exist"
    if method in UNSAFE and StaleDataError in app.exception_handlers:
        why[412] = "the row changed while the write ran (optimistic locking)"
    if method == "POST":
        why.update({409: "Idempotency-Key still running", 422: "Idempotency-Key reused"})
    for call in _calls(dependant):
        for status in _raised(call):
            why.setdefault(status, f"{getattr(call, '__qualname__', call)!r} raises it")
    return why


def test_every_status_an_operation_can_answer_is_documented():
    app = create_app(make_settings("sqlite+aiosqlite:///:memory:"))
    spec = app.openapi()
    missing = []
    for method, path, route, context in _operations(app):
        documented = spec["paths"][path][method.lower()]["responses"]
        for status, reason in sorted(_can_answer(app, method, route, context).items()):
            if str(status) not in documented:
                missing.append(f"{method} {path}: {status} ({reason})")
    assert not missing, "answers the contract does not list:\n" + "\n".join(missing)


def test_signed_in_operations_document_401_403_and_rate_limits():
    spec = create_app(make_settings("sqlite+aiosqlite:///:memory:")).openapi()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            responses, where = operation["responses"], f"{method.upper()} {path}"
            if operation["security"]:
                assert {"401", "403", "429"} <= set(responses), where
            for status in ("429", "503"):
                if status in responses:
                    header = responses[status]["headers"]["Retry-After"]
                    assert header["required"] and header["schema"]["type"] == "integer", where
            accept = {"post": "Accept-Post", "patch": "Accept-Patch"}.get(method)
            if "415" in responses and accept:
                assert accept in responses["415"]["headers"], where


def assert_documented(app: Any, method: str, path: str, response: httpx.Response) -> dict:
    """The answer's status is listed for the operation, in the media type it came in, with
    every header the contract says it carries; the headers it names are documented."""
    operation = app.openapi()["paths"][path][method.lower()]
    entry = operation["responses"].get(str(response.status_code))
    assert entry is not None, f"{method} {path} answered {response.status_code}, undocumented"
    media_type = response.headers["content-type"].split(";")[0]
    assert media_type in entry["content"], (method, path, response.status_code, media_type)
    headers = entry.get("headers", {})
    for name, header in headers.items():
        if header.get("required"):
            assert name.lower() in response.headers, (method, path, name)
    for name in ("Retry-After", "Accept-Post", "Accept-Patch"):
        if name.lower() in response.headers:
            assert name in headers, (method, path, response.status_code, name)
    return response.json()


@pytest.fixture
async def strict(database_url):
    """An app with small limits: 3 requests a minute per caller, bodies of at most 2 KiB."""
    settings = make_settings(
        database_url,
        rate_limit_per_minute=3,
        rate_limit_anonymous_per_minute=3,
        max_body_bytes=2048,
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://t") as http,
        app.state.sessionmaker() as db,
    ):
        world = await build_world(db, app)
        yield app, http, world
    await empty_all_tables(app)
    await app.state.engine.dispose()


async def test_a_rate_limited_caller_gets_a_documented_429(strict):
    app, http, world = strict
    answers = [await http.get("/v1/me", headers=world.auth("therapist")) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert_documented(app, "GET", "/v1/me", answers[-1])
    anonymous = [
        await http.post("/v1/auth/token", data={"grant_type": "password"}) for _ in range(4)
    ]
    assert [a.status_code for a in anonymous] == [400, 400, 400, 429]
    assert_documented(app, "POST", "/v1/auth/token", anonymous[0])
    assert_documented(app, "POST", "/v1/auth/token", anonymous[-1])


async def test_login_throttling_is_a_documented_429(database_url):
    app = create_app(make_settings(database_url, login_max_failures=2))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        form = {"grant_type": "password", "username": "nobody@example.com", "password": "x"}
        answers = [await http.post("/v1/auth/token", data=form) for _ in range(3)]
    await app.state.engine.dispose()
    assert [a.status_code for a in answers] == [400, 400, 429]
    assert_documented(app, "POST", "/v1/auth/token", answers[-1])


async def test_a_body_over_the_limit_is_a_documented_413(strict):
    app, http, world = strict
    response = await http.post(
        "/v1/clients",
        headers=world.auth("therapist"),
        json={"email": "big@example.com", "display_name": "x" * 3000},
    )
    assert response.status_code == 413
    assert assert_documented(app, "POST", "/v1/clients", response)["status"] == 413


async def test_a_body_in_another_media_type_is_a_documented_415(strict):
    app, http, world = strict
    posted = await http.post(
        "/v1/clients",
        headers={**world.auth("therapist"), "Content-Type": "text/plain"},
        content=b'{"email": "sam@example.com", "display_name": "Sam"}',
    )
    assert posted.status_code == 415
    body = assert_documented(app, "POST", "/v1/clients", posted)
    assert body["type"] == "urn:homework:problem:unsupported-media-type"
    assert body["accepted"] == "application/json" and "application/json" in body["detail"]
    assert posted.headers["accept-post"] == "application/json"

    patched = await http.patch(
        "/v1/me",
        headers={**world.auth("client"), "Content-Type": "application/x-www-form-urlencoded"},
        content=b"display_name=Sam",
    )
    assert patched.status_code == 415
    assert_documented(app, "PATCH", "/v1/me", patched)
    assert patched.headers["accept-patch"] == "application/json"

    token = await http.post(
        "/v1/auth/token",
        json={"grant_type": "password", "username": world.client.email, "password": PASSWORD},
    )
    assert token.status_code == 415
    assert assert_documented(app, "POST", "/v1/auth/token", token)["error"] == "invalid_request"


async def test_an_unreachable_database_is_a_documented_503():
    app = create_app(
        make_settings(f"sqlite+aiosqlite:////nonexistent-{uuid.uuid4().hex}/homework.db")
    )
    claims = {
        "sub": str(uuid.uuid4()),
        "kind": "user",
        "clinic": str(uuid.uuid4()),
        "role": "therapist",
        "scope": "homework:read homework:write",
    }
    token = app.state.jwt.encode(claims, typ="access", ttl_seconds=60)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        me = await http.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
        login = await http.post(
            "/v1/auth/token",
            data={"grant_type": "password", "username": "a@example.com", "password": "x"},
        )
        ready = await http.get("/readyz")
    await app.state.engine.dispose()
    for method, path, response in (
        ("GET", "/v1/me", me),
        ("POST", "/v1/auth/token", login),
        ("GET", "/readyz", ready),
    ):
        assert response.status_code == 503, (path, response.text)
        assert int(response.headers["retry-after"]) >= 1
        assert_documented(app, method, path, response)
