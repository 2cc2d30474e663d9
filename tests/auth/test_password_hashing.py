"""argon2 runs in its own small thread pool, with no database transaction open meanwhile."""

import asyncio
import sqlite3
import threading

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from app.core import passwords
from tests.factories import PASSWORD


@pytest.fixture
def argon2_calls(monkeypatch, settings):
    """Wraps the pool's hash and verify functions: each call records its thread and whether,
    at that moment, any transaction was open on the test database."""
    calls: list[dict] = []
    for name in ("_hash", "_verify"):
        real = getattr(passwords, name)

        def wrapper(*args, _real=real, _name=name):
            calls.append(
                {
                    "what": _name,
                    "thread": threading.get_ident(),
                    "transaction_open": _transaction_open(settings.database_url),
                }
            )
            return _real(*args)

        monkeypatch.setattr(passwords, name, wrapper)
    return calls


def _transaction_open(database_url: str) -> bool:
    """SQLite: whether another connection holds the write lock. PostgreSQL: whether a session
    of this database sits in a transaction."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        connection = sqlite3.connect(url.database, timeout=0, isolation_level=None)
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError:
            return True
        finally:
            connection.close()

    async def in_transaction() -> bool:
        connection = await asyncpg.connect(
            host=url.host, port=url.port, user=url.username, database=url.database
        )
        try:
            return await connection.fetchval(
                "SELECT count(*) > 0 FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'"
            )
        finally:
            await connection.close()

    return asyncio.run(in_transaction())  # this is a pool thread: no loop runs here


async def _login(client, email, password=PASSWORD):
    return await client.post(
        "/v1/auth/token",
        data={"grant_type": "password", "username": email, "password": password},
    )


async def test_a_login_verifies_the_password_off_the_event_loop(client, world, argon2_calls):
    assert (await _login(client, world.client.email)).status_code == 200
    loop_thread = threading.get_ident()
    assert [c["what"] for c in argon2_calls] == ["_verify"]
    assert all(c["thread"] != loop_thread for c in argon2_calls)


async def test_a_login_holds_no_transaction_while_verifying(client, world, argon2_calls):
    for password in (PASSWORD, "wrong-password!"):
        await _login(client, world.client.email, password)
    await _login(client, "nobody@example.com")
    assert len(argon2_calls) == 3
    assert not any(c["transaction_open"] for c in argon2_calls)


async def test_a_password_change_hashes_off_the_loop_with_no_transaction_open(
    client, world, argon2_calls
):
    changed = await client.post(
        "/v1/me/password",
        headers=world.auth("client"),
        json={"current_password": PASSWORD, "new_password": "a-brand-new-passphrase"},
    )
    assert changed.status_code == 204
    loop_thread = threading.get_ident()
    assert [c["what"] for c in argon2_calls] == ["_verify", "_hash"]
    assert all(c["thread"] != loop_thread for c in argon2_calls)
    assert not any(c["transaction_open"] for c in argon2_calls)


async def test_accepting_an_invitation_hashes_with_no_transaction_open(client, world, argon2_calls):
    created = await client.post(
        "/v1/clients",
        headers=world.auth("therapist"),
        json={"email": "invitee@example.com", "display_name": "In Vitee"},
    )
    accepted = await client.post(
        "/v1/invitations/accept",
        json={"code": created.json()["invitation"]["code"], "password": "a-good-passphrase"},
    )
    assert accepted.status_code == 200
    assert [c["what"] for c in argon2_calls] == ["_hash"]
    assert not any(c["transaction_open"] for c in argon2_calls)


async def test_a_flood_of_logins_uses_at_most_the_configured_threads(
    client, world, settings, monkeypatch
):
    """password_hash_threads bounds the verifications running at once, so a flood of logins
    cannot take every thread (or core) of the process."""
    running, most = 0, 0
    lock = threading.Lock()
    real = passwords._verify

    def slow_verify(*args):
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        try:
            return real(*args)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(passwords, "_verify", slow_verify)
    people = [u.email for u in world.users.values()]  # one login each: no throttle involved
    answers = await asyncio.gather(*(_login(client, email) for email in people))
    assert [a.status_code for a in answers] == [200] * len(people)
    assert most <= settings.password_hash_threads
