"""Every error path answers an RFC 9457 problem with the documented status."""

import httpx
import pytest
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from app.core.errors import PROBLEM_MEDIA_TYPE
from app.core.routing import ProblemRoute
from app.main import create_app
from tests.conftest import make_settings


class Echo(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    mood: int
    note: str


def _app_with_probe_routes(settings):
    app = create_app(settings)
    router = APIRouter(route_class=ProblemRoute)

    @router.post("/probe/echo", operation_id="echo")
    async def echo(body: Echo) -> Echo:
        return body

    @router.get("/probe/boom", operation_id="boom")
    async def boom() -> dict[str, str]:
        raise RuntimeError("SELECT secret FROM patient WHERE name = 'Alice'")

    app.include_router(router)
    return app


@pytest.fixture
async def probe(database_url: str):
    app = _app_with_probe_routes(make_settings(database_url, max_body_bytes=2048))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
    await app.state.engine.dispose()


def assert_problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    assert body["status"] == status
    assert body["type"].startswith("urn:homework:problem:")
    assert body["title"]
    assert body["request_id"] == response.headers["x-request-id"]
    return body


async def test_malformed_json_is_400_problem(probe):
    response = await probe.post(
        "/probe/echo", content=b'{"mood": 3,', headers={"content-type": "application/json"}
    )
    body = assert_problem(response, 400)
    assert body["type"] == "urn:homework:problem:malformed-json"


async def test_a_body_that_is_not_json_is_415_naming_json(probe):
    text = await probe.post(
        "/probe/echo", content=b'{"mood": 3, "note": "x"}', headers={"content-type": "text/plain"}
    )
    body = assert_problem(text, 415)
    assert body["type"] == "urn:homework:problem:unsupported-media-type"
    assert body["accepted"] == "application/json"
    assert "Content-Type: application/json" in body["detail"]
    assert text.headers["accept-post"] == "application/json"
    # No Content-Type at all is not JSON either (RFC 9110 §8.3: the recipient may not guess).
    untyped = await probe.post("/probe/echo", content=b'{"mood": 3, "note": "x"}')
    assert_problem(untyped, 415)


async def test_json_with_parameters_or_a_json_suffix_is_json(probe):
    for content_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
        response = await probe.post(
            "/probe/echo",
            content=b'{"mood": 3, "note": "x"}',
            headers={"content-type": content_type},
        )
        assert response.status_code == 200, (content_type, response.text)


async def test_wrong_type_is_422_naming_the_field(probe):
    response = await probe.post("/probe/echo", json={"mood": "three", "note": "x"})
    body = assert_problem(response, 422)
    assert [e["loc"] for e in body["errors"]] == [["body", "mood"]]
    assert "body.mood" in body["detail"]


async def test_validation_errors_do_not_echo_the_input(probe):
    response = await probe.post("/probe/echo", json={"mood": 1, "note": 5, "secret": "hunter2"})
    body = assert_problem(response, 422)
    assert "hunter2" not in response.text
    assert {tuple(e["loc"]) for e in body["errors"]} == {("body", "note"), ("body", "secret")}


async def test_unknown_route_is_404_problem(probe):
    assert_problem(await probe.get("/v1/no-such-thing"), 404)


async def test_wrong_method_is_405_problem_with_allow(probe):
    response = await probe.delete("/probe/echo")
    assert_problem(response, 405)
    assert response.headers["allow"] == "POST"


async def test_oversize_declared_body_is_413_problem(probe):
    response = await probe.post("/probe/echo", json={"mood": 1, "note": "x" * 5000})
    body = assert_problem(response, 413)
    assert body["type"] == "urn:homework:problem:payload-too-large"


async def test_oversize_streamed_body_is_413_problem(probe):
    async def chunks():
        for _ in range(10):
            yield b'{"note": "' + b"x" * 500

    response = await probe.post(
        "/probe/echo", content=chunks(), headers={"content-type": "application/json"}
    )
    assert_problem(response, 413)


async def test_unexpected_error_is_generic_500_with_request_id(probe, caplog):
    response = await probe.get("/probe/boom", headers={"X-Request-ID": "req-boom-1"})
    body = assert_problem(response, 500)
    assert body["request_id"] == "req-boom-1"
    assert "SELECT" not in response.text and "Alice" not in response.text
    assert "Traceback" not in response.text


async def test_request_id_is_created_when_absent_and_echoed_when_sent(probe):
    created = await probe.get("/healthz")
    assert len(created.headers["x-request-id"]) == 32
    echoed = await probe.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"


async def test_an_unsafe_request_id_is_replaced(probe):
    response = await probe.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert response.headers["x-request-id"] != "bad id\twith spaces"
