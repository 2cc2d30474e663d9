"""Prepared statements (`app.core.prepared`): on PostgreSQL they go straight to asyncpg. They
give the rows the session would give, run inside a write's transaction (begun first), and a connection the server dropped is handled as
SQLAlchemy handles it."""

import uuid
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from sqlalchemy.exc import OperationalError

from app.agenda.repository import AGENDA, Row
from app.assignments.models import AssignmentPause
from app.clinics.models import Clinic
from app.core.db import entity_unless_taken
from app.core.time import utcnow
from tests.factories import make_completion


@pytest.fixture
def on_postgres(app):
    if app.state.engine.dialect.name != "postgresql":
        pytest.skip("the direct driver path is PostgreSQL's; SQLite runs through the session")


def _window(clinic_id: uuid.UUID) -> dict[str, Any]:
    today = utcnow().date()
    return {
        "clinic_id": clinic_id,
        "start": today - timedelta(days=3),
        "end": today + timedelta(days=3),
    }


async def _every_kind_of_row(db, world) -> dict:
    now = utcnow()
    await make_completion(db, world.client, world.assignment, completed_at=now)
    db.add(
        AssignmentPause(
            clinic_id=world.clinic.id,
            assignment_id=world.assignment.id,
            paused_at=now + timedelta(days=1),
            resumed_at=now + timedelta(days=2),
        )
    )
    await db.commit()
    return {"client_id": world.client.id, **_window(world.clinic.id)}


async def test_the_driver_gives_the_rows_the_session_gives(on_postgres, app, db, world):
    params = await _every_kind_of_row(db, world)
    async with app.state.read_sessionmaker() as session:
        direct = [tuple(row) for row in await AGENDA.fetch(session, **params)]
    async with app.state.sessionmaker() as session:
        through_orm = [tuple(row) for row in await session.execute(AGENDA.statement, params)]
    assert {row[0] for row in direct} == set(Row)
    assert direct == through_orm
    # Same values, and of the same kinds: ids, aware instants, parsed JSON, plain strings.
    for mine, theirs in zip(direct, through_orm, strict=True):
        assert [type(v).__mro__[-2] for v in mine] == [type(v).__mro__[-2] for v in theirs]
        assert all(getattr(v, "tzinfo", 1) is not None for v in mine)


async def test_inside_a_write_transaction_it_sees_what_the_session_holds(app, world):
    # The statement runs inside the transaction: it sees the flushed, uncommitted row, which
    # the rollback then takes away.
    async with app.state.sessionmaker() as session:
        session.add(
            AssignmentPause(
                clinic_id=world.clinic.id, assignment_id=world.assignment.id, paused_at=utcnow()
            )
        )
        await session.flush()
        rows = await AGENDA.fetch(session, client_id=world.client.id, **_window(world.clinic.id))
        assert [r[0] for r in rows].count(Row.pause) == 1
        await session.rollback()
    async with app.state.sessionmaker() as session:
        rows = await AGENDA.fetch(session, client_id=world.client.id, **_window(world.clinic.id))
        assert [r[0] for r in rows].count(Row.pause) == 0


async def test_as_a_transactions_first_statement_it_begins_it(app, world):
    # A prepared INSERT first in a write's session: the transaction is begun before it, so
    # the session's rollback undoes it, and its commit keeps it.
    values = {"name": "Prepared clinic", "timezone": "UTC"}
    async with app.state.sessionmaker() as session:
        clinic = await entity_unless_taken(session, Clinic, values)
        assert clinic is not None
        await session.rollback()
    async with app.state.sessionmaker() as session:
        assert await session.get(Clinic, clinic.id) is None
        kept = await entity_unless_taken(session, Clinic, values)
        await session.commit()
    async with app.state.sessionmaker() as session:
        stored = await session.get(Clinic, kept.id)
        assert stored is not None and stored.name == "Prepared clinic"
        assert stored.created_at == kept.created_at  # the instance holds what was stored


async def test_a_missing_parameter_is_an_error_not_a_null(on_postgres, app):
    async with app.state.read_sessionmaker() as session:
        with pytest.raises(TypeError, match="client_id"):
            await AGENDA.fetch(session, **_window(uuid.uuid4()))


async def _server_pid(session) -> int:
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    return raw.driver_connection.get_server_pid()


async def _terminate(app, pid: int) -> None:
    url = app.state.engine.url.set(drivername="postgresql")
    killer = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        assert await killer.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await killer.close()


async def test_a_connection_the_server_dropped_is_invalidated(on_postgres, app, world):
    async with app.state.read_sessionmaker() as session:
        pid = await _server_pid(session)
        await _terminate(app, pid)
        with pytest.raises(OperationalError) as raised:
            await AGENDA.fetch(session, client_id=world.client.id, **_window(world.clinic.id))
    assert raised.value.connection_invalidated
    # The pool drops its connections of that generation: the next one is new and works.
    async with app.state.read_sessionmaker() as session:
        assert await _server_pid(session) != pid
        assert await AGENDA.fetch(session, client_id=uuid.uuid4(), **_window(world.clinic.id)) == []


async def test_a_request_on_a_dropped_connection_is_answered(on_postgres, app, client, world):
    headers = world.auth("client")
    assert (await client.get("/v1/me/agenda", headers=headers)).status_code == 200
    # Every idle connection of the pool is dropped by the server, as in a restart.
    engine, idle = app.state.engine, app.state.engine.pool.checkedin()
    connections = [await engine.connect() for _ in range(idle)]
    pids = [(await c.get_raw_connection()).driver_connection.get_server_pid() for c in connections]
    for connection in connections:
        await connection.close()
    for pid in pids:
        await _terminate(app, pid)
    response = await client.get("/v1/me/agenda", headers=headers)
    assert response.status_code == 200, response.text
