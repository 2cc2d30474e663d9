"""A read on PostgreSQL runs in autocommit: no BEGIN and no ROLLBACK around its statements, so
`GET /v1/me/agenda` costs the agenda's one statement once the principal check is remembered. Each statement still reads its own snapshot, as in the READ COMMITTED
transaction it had before. A read session refuses to write; writes keep their transaction."""

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event, insert

from app.core.audit import AuditEvent
from app.core.time import utcnow
from app.templates.library import get_builtin

ANSWERS = get_builtin("thought-record").realistic_example


@pytest.fixture
def on_postgres(app):
    if app.state.engine.dialect.name != "postgresql":
        pytest.skip(
            "autocommit reads are PostgreSQL's (SQLite: test_sqlite_reads_keep_their_transaction)"
        )


@contextmanager
def in_transaction(app) -> Iterator[list[bool]]:
    """Whether asyncpg was inside a transaction after each statement the app's engine sent
    within the block (as `tests/statements.py` records the statements themselves)."""
    seen: list[bool] = []

    def record(conn, *_):
        seen.append(conn.connection.driver_connection.is_in_transaction())

    engine = app.state.engine.sync_engine
    event.listen(engine, "after_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "after_cursor_execute", record)


async def test_sqlite_reads_keep_their_transaction(app):
    # On SQLite a round trip is a function call and BEGIN is the app's own (BEGIN IMMEDIATE
    # for writes), so reads keep it.
    if app.state.engine.dialect.name == "sqlite":
        assert app.state.read_sessionmaker is None
    else:
        assert app.state.read_sessionmaker is not None


async def test_the_agenda_is_one_statement_outside_any_transaction(on_postgres, client, world, app):
    await client.get("/v1/me", headers=world.auth("client"))  # the principal check cached
    with in_transaction(app) as seen:
        response = await client.get("/v1/me/agenda", headers=world.auth("client"))
    assert response.status_code == 200
    # The agenda's one statement (sent to asyncpg directly; it reads the client's time zone
    # along), then the group commit's audit INSERT (autocommit as well).
    assert seen == [False] * 2


async def test_a_write_begins_its_transaction_at_its_first_write(on_postgres, client, world, app):
    with in_transaction(app) as seen:
        response = await client.post(
            f"/v1/assignments/{world.assignment.id}/completions",
            headers=world.auth("client"),
            json={"completed_at": utcnow().isoformat(), "status": "done", "responses": ANSWERS},
        )
    assert response.status_code == 201, response.text
    # Its reads before (the principal, the context) in autocommit; from the first award's
    # INSERT on, one transaction, which the completion's statement joins before the COMMIT.
    assert seen[:2] == [False, False] and len(seen) > 3 and all(seen[2:]), seen


async def test_a_write_with_nothing_before_its_commit_is_one_statement_alone(
    on_postgres, client, world, app
):
    await client.get("/v1/me", headers=world.auth("client"))  # the principal check cached
    with in_transaction(app) as seen:
        response = await client.post(
            f"/v1/assignments/{world.assignment.id}/completions",
            headers=world.auth("client"),
            json={
                "completed_at": utcnow().isoformat(),
                "status": "skipped",
                "skip_reason": "forgot",
            },
        )
    assert response.status_code == 201, response.text
    # The context, then the completion with its audit row and event: no BEGIN, no COMMIT.
    assert seen == [False, False]


async def test_a_read_session_refuses_to_write(on_postgres, app, world):
    row = {
        "occurred_at": utcnow(),
        "clinic_id": world.clinic.id,
        "actor_role": "client",
        "action": "read",
        "resource_type": "agenda",
        "outcome": 200,
    }
    async with app.state.read_sessionmaker() as session:
        with pytest.raises(RuntimeError, match="read request tried to write"):
            await session.execute(insert(AuditEvent).values(**row))
        session.add(AuditEvent(**row))
        with pytest.raises(RuntimeError, match="read request tried to write"):
            await session.flush()
