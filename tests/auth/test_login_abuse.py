"""Password guessing: per-account throttles on login and on password change (memory and Redis),
atomic under concurrency; flat timing; argon2id hashes."""

import asyncio
import os
import statistics
import time
import uuid

import httpx
import pytest
import redis.asyncio as aioredis
from sqlalchemy import select

from app.auth.models import User
from app.core import passwords
from app.main import create_app
from tests.conftest import empty_all_tables, make_settings
from tests.factories import PASSWORD, build_world

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


async def _redis_or_skip() -> str:
    try:
        connection = aioredis.from_url(REDIS_URL, socket_connect_timeout=2)
        await connection.ping()
        await connection.aclose()
    except (OSError, aioredis.RedisError):
        if os.environ.get("REQUIRE_REDIS") == "1":
            pytest.fail(f"Redis is required (REQUIRE_REDIS=1) but {REDIS_URL} is down")
        pytest.skip(f"Redis not reachable at {REDIS_URL}")
    return REDIS_URL


@pytest.fixture(params=["memory", "redis"])
async def throttled(request, database_url):
    overrides = {"login_max_failures": 3, "login_window_seconds": 60}
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


async def _login(http, email, password):
    return await http.post(
        "/v1/auth/token", data={"grant_type": "password", "username": email, "password": password}
    )


async def test_failed_logins_are_throttled_per_account(throttled):
    http, world = throttled
    for _ in range(3):
        assert (await _login(http, world.therapist.email, "wrong-password!")).status_code == 400
    blocked = await _login(http, world.therapist.email, PASSWORD)
    assert blocked.status_code == 429
    assert 1 <= int(blocked.headers["retry-after"]) <= 60
    assert blocked.headers["content-type"] == "application/problem+json"
    # Another account is not affected.
    assert (await _login(http, world.client.email, PASSWORD)).status_code == 200


async def test_unknown_accounts_are_throttled_the_same_way(throttled):
    http, _ = throttled
    for _ in range(3):
        assert (await _login(http, "ghost@example.com", "wrong-password!")).status_code == 400
    assert (await _login(http, "ghost@example.com", "wrong-password!")).status_code == 429


async def test_a_successful_login_resets_the_failure_count(throttled):
    http, world = throttled
    for _ in range(2):
        await _login(http, world.therapist.email, "wrong-password!")
    assert (await _login(http, world.therapist.email, PASSWORD)).status_code == 200
    for _ in range(2):
        assert (await _login(http, world.therapist.email, "wrong-password!")).status_code == 400
    assert (await _login(http, world.therapist.email, PASSWORD)).status_code == 200


async def test_unknown_email_and_wrong_password_take_similar_time(database_url):
    """Both paths verify an argon2 hash, so their medians over 50 tries each stay close. The
    bound asserted is generous (shared CI machines are noisy); the closing note of the issue
    records the measured medians."""
    app = create_app(make_settings(database_url, login_max_failures=1000))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    samples: dict[str, list[float]] = {"unknown": [], "wrong_password": []}
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://t") as http,
        app.state.sessionmaker() as db,
    ):
        world = await build_world(db, app)
        emails = {"unknown": "nobody@example.com", "wrong_password": world.therapist.email}
        for _ in range(50):
            for kind, email in emails.items():  # interleaved, so drift hits both alike
                started = time.perf_counter()
                response = await _login(http, email, "wrong-password!")
                samples[kind].append(time.perf_counter() - started)
                assert response.status_code == 400
    await empty_all_tables(app)
    await app.state.engine.dispose()
    medians = {kind: statistics.median(values) for kind, values in samples.items()}
    print(f"login timing medians (s): {medians}")
    assert abs(medians["unknown"] - medians["wrong_password"]) < 0.02, medians


async def test_passwords_are_stored_as_argon2id(client, world, db):
    created = await client.post(
        "/v1/clients",
        headers=world.auth("therapist"),
        json={"email": "newbie@example.com", "display_name": "New Bie"},
    )
    code = created.json()["invitation"]["code"]
    accepted = await client.post(
        "/v1/invitations/accept", json={"code": code, "password": "a-good-long-passphrase"}
    )
    assert accepted.status_code == 200
    stored = await db.scalar(select(User.password_hash).where(User.email == "newbie@example.com"))
    assert stored.startswith("$argon2id$")
    assert "m=19456,t=2,p=1" in stored


async def test_a_hash_with_old_parameters_is_upgraded_at_login(client, world, db):
    from argon2 import PasswordHasher
    from sqlalchemy import update

    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    await db.execute(update(User).where(User.id == world.client.id).values(password_hash=weak))
    await db.commit()
    assert (await _login(client, world.client.email, PASSWORD)).status_code == 200
    client_id = world.client.id
    db.expire_all()
    stored = await db.scalar(select(User.password_hash).where(User.id == client_id))
    assert stored != weak and "m=19456,t=2,p=1" in stored


@pytest.fixture
def verifications(monkeypatch):
    """Counts argon2 verifications (the costly step a throttle exists to bound)."""
    counted = {"n": 0}
    real = passwords._verify

    def counting(password_hash, password):
        counted["n"] += 1
        return real(password_hash, password)

    monkeypatch.setattr(passwords, "_verify", counting)
    return counted


@pytest.mark.parametrize("burst", [30, 60])
async def test_a_parallel_burst_of_wrong_passwords_verifies_at_most_the_limit(
    throttled, verifications, burst
):
    http, world = throttled
    answers = await asyncio.gather(
        *(_login(http, world.therapist.email, "wrong-password!") for _ in range(burst))
    )
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [400] * 3 + [429] * (burst - 3)
    assert verifications["n"] == 3


async def _change_password(http, world, current, new="a-brand-new-passphrase", who="therapist"):
    return await http.post(
        "/v1/me/password",
        headers=world.auth(who),
        json={"current_password": current, "new_password": new},
    )


async def test_wrong_current_passwords_are_throttled_per_account(throttled):
    http, world = throttled
    for _ in range(3):
        assert (await _change_password(http, world, "wrong-password!")).status_code == 422
    blocked = await _change_password(http, world, PASSWORD)
    assert blocked.status_code == 429
    assert 1 <= int(blocked.headers["retry-after"]) <= 60
    assert blocked.headers["content-type"] == "application/problem+json"
    # Another account is not affected.
    assert (await _change_password(http, world, PASSWORD, who="client")).status_code == 204


async def test_a_right_current_password_clears_the_wrong_guesses(throttled):
    http, world = throttled
    for _ in range(2):
        await _change_password(http, world, "wrong-password!")
    assert (
        await _change_password(http, world, PASSWORD, "first-new-passphrase")
    ).status_code == 204
    for _ in range(2):
        assert (await _change_password(http, world, "wrong-password!")).status_code == 422
    changed = await _change_password(http, world, "first-new-passphrase")
    assert changed.status_code == 204


async def test_a_parallel_burst_of_wrong_current_passwords_verifies_at_most_the_limit(
    throttled, verifications
):
    http, world = throttled
    answers = await asyncio.gather(
        *(_change_password(http, world, "wrong-password!") for _ in range(30))
    )
    assert sorted(a.status_code for a in answers) == [422] * 3 + [429] * 27
    assert verifications["n"] == 3
