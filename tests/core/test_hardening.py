"""Rate limits (memory and Redis), security headers, and logs that never hold PHI or tokens."""

import logging
import uuid

import httpx
import pytest

from app.core.time import utcnow
from app.main import create_app
from tests.auth.test_login_abuse import _redis_or_skip
from tests.conftest import empty_all_tables, make_settings
from tests.factories import build_world


@pytest.fixture(params=["memory", "redis"])
async def limited(request, database_url):
    overrides = {"rate_limit_per_minute": 5, "rate_limit_anonymous_per_minute": 3}
    if request.param == "redis":
        overrides["redis_url"] = await _redis_or_skip()
        overrides["redis_key_prefix"] = f"test-{uuid.uuid4().hex}"
    app = create_app(make_settings(database_url, **overrides))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://t") as http,
        app.state.sessionmaker() as db,
    ):
        world = await build_world(db, app)
        yield http, world
    await empty_all_tables(app)
    await app.state.engine.dispose()


async def test_each_principal_has_its_own_limit(limited):
    http, world = limited
    answers = [await http.get("/v1/me", headers=world.auth("therapist")) for _ in range(6)]
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    blocked = answers[-1]
    assert 1 <= int(blocked.headers["retry-after"]) <= 60
    assert blocked.headers["content-type"] == "application/problem+json"
    assert (await http.get("/v1/me", headers=world.auth("client"))).status_code == 200


async def test_unauthenticated_calls_are_limited_per_address(limited):
    http, _ = limited
    answers = [await http.post("/v1/auth/token", data={"grant_type": "nope"}) for _ in range(4)]
    assert [a.status_code for a in answers] == [400, 400, 400, 429]


async def test_data_responses_carry_security_headers(client, world):
    response = await client.get("/v1/me", headers=world.auth("client"))
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    # The docs pages have a policy of their own (tests/core/test_docs.py): this origin only.
    docs = await client.get("/docs")
    assert "script-src 'self'" in docs.headers["content-security-policy"]


async def test_cors_allows_only_configured_origins(database_url):
    app = create_app(make_settings(database_url, cors_origins=["https://app.example"]))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        ok = await http.options(
            "/v1/me",
            headers={"Origin": "https://app.example", "Access-Control-Request-Method": "GET"},
        )
        bad = await http.options(
            "/v1/me",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
        )
    await app.state.engine.dispose()
    assert ok.headers.get("access-control-allow-origin") == "https://app.example"
    assert "access-control-allow-origin" not in bad.headers


async def test_logs_never_hold_notes_answers_or_tokens(client, world, caplog):
    secret_note = "My brother's name is Quentin and I dread Sundays"
    caplog.set_level(logging.DEBUG)
    token = world.tokens["client"]
    await client.post(
        f"/v1/assignments/{world.assignment.id}/completions",
        headers=world.auth("client"),
        json={
            "completed_at": utcnow().isoformat(),
            "status": "skipped",
            "skip_reason": "other",
            "skip_note": secret_note,
        },
    )
    await client.post(
        f"/v1/assignments/{world.assignment.id}/completions",
        headers=world.auth("client"),
        json={"completed_at": "not a time", "status": "skipped", "skip_note": secret_note},
    )
    await client.get("/v1/completions", headers=world.auth("therapist"))
    await client.post(
        "/v1/auth/token",
        data={"grant_type": "password", "username": world.client.email, "password": secret_note},
    )
    logged = "\n".join(r.getMessage() + " " + str(r.__dict__) for r in caplog.records)
    assert caplog.records, "the scenario must have produced log lines"
    assert secret_note not in logged
    assert token not in logged and "Quentin" not in logged
