"""The principal check is remembered for PRINCIPAL_CACHE_SECONDS (at most 5) per process.

A change made through this process (deactivating a user, revoking an API client, erasing a
client) is refused at the next request (tests/auth/test_token_endpoint.py). A change another
process commits reaches this one when its entry expires: these tests make that change with SQL
on a connection of its own, which no hook of this process sees, and move the cache's clock.
"""

import uuid

import pytest
from pydantic import ValidationError
from sqlalchemy import Executable, update

from app.auth.models import ApiClient, User, UserStatus
from app.auth.principal_cache import PrincipalCache
from app.core.config import Settings
from app.core.time import utcnow


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(app):
    """The app's cache, on a clock the test moves; the app's own cache is put back after."""
    own = app.state.principal_cache
    ticking = Clock()
    app.state.principal_cache = PrincipalCache(own.seconds, clock=ticking)
    yield ticking
    app.state.principal_cache = own


async def _another_process_runs(app, statement: Executable) -> None:
    """A Core statement on a connection of its own: no session, so no hook of this process."""
    async with app.state.engine.begin() as connection:
        await connection.execute(statement)


async def test_a_user_deactivated_by_another_process_is_refused_within_the_cache_window(
    client, world, app, clock
):
    seconds = app.state.settings.principal_cache_seconds
    assert 0 < seconds <= 5
    assert (await client.get("/v1/me", headers=world.auth("therapist"))).status_code == 200
    deactivate = update(User).where(User.id == world.therapist.id)
    await _another_process_runs(app, deactivate.values(status=UserStatus.deactivated))
    clock.now += seconds - 0.01
    # Still inside the window this process read the account in: answered from memory.
    assert (await client.get("/v1/me", headers=world.auth("therapist"))).status_code == 200
    clock.now += 0.01
    refused = await client.get("/v1/me", headers=world.auth("therapist"))
    assert refused.status_code == 401
    assert refused.json()["detail"] == "The account is not active."


async def test_an_api_client_revoked_by_another_process_is_refused_within_the_cache_window(
    client, world, app, clock
):
    seconds = app.state.settings.principal_cache_seconds
    api = world.api_clients["api_full"]
    assert (await client.get("/v1/clients", headers=world.auth("api_full"))).status_code == 200
    revoke = update(ApiClient).where(ApiClient.id == api.id)
    await _another_process_runs(app, revoke.values(revoked_at=utcnow()))
    clock.now += seconds
    refused = await client.get("/v1/clients", headers=world.auth("api_full"))
    assert refused.status_code == 401
    assert refused.json()["detail"] == "The API client is revoked."


async def test_a_user_deactivated_through_this_process_is_refused_at_once(
    client, world, app, clock
):
    assert (await client.get("/v1/me", headers=world.auth("client"))).status_code == 200
    changed = await client.patch(
        f"/v1/clients/{world.client.id}",
        headers=world.auth("admin"),
        json={"status": "deactivated"},
    )
    assert changed.status_code == 200, changed.text
    assert (await client.get("/v1/me", headers=world.auth("client"))).status_code == 401


async def test_an_erased_client_is_refused_at_once(client, world, app, clock):
    assert (await client.get("/v1/me", headers=world.auth("client"))).status_code == 200
    erased = await client.delete(f"/v1/clients/{world.client.id}", headers=world.auth("admin"))
    assert erased.status_code == 204, erased.text
    assert (await client.get("/v1/me", headers=world.auth("client"))).status_code == 401


def test_the_window_is_at_most_five_seconds():
    assert Settings().principal_cache_seconds <= 5
    with pytest.raises(ValidationError, match="principal_cache_seconds"):
        Settings(principal_cache_seconds=6)


def test_an_answer_read_while_a_change_committed_is_not_remembered():
    cache = PrincipalCache(4, clock=Clock())
    key = ("user", uuid.uuid4())
    lookup = cache.lookup()
    cache.forget(("user", uuid.uuid4()))  # some change committed while the row was read
    lookup.keep(key, ("active",))
    assert cache.get(key) is None
    cache.lookup().keep(key, ("active",))
    assert cache.get(key) == ("active",)


def test_the_window_counts_from_before_the_read_and_zero_turns_the_cache_off():
    clock = Clock()
    cache = PrincipalCache(4, clock=clock)
    key = ("api_client", uuid.uuid4())
    lookup = cache.lookup()
    clock.now += 1  # the read took a second
    lookup.keep(key, (None,))
    clock.now += 2.99
    assert cache.get(key) == (None,)
    clock.now += 0.01
    assert cache.get(key) is None
    off = PrincipalCache(0, clock=clock)
    off.lookup().keep(key, (None,))
    assert off.get(key) is None


def test_the_cache_is_bounded_and_drops_the_oldest_read():
    cache = PrincipalCache(4, size=3, clock=Clock())
    keys = [("user", uuid.uuid4()) for _ in range(4)]
    for key in keys:
        cache.lookup().keep(key, ("active",))
    assert cache.get(keys[0]) is None
    assert all(cache.get(key) == ("active",) for key in keys[1:])
