"""Revision e1a7c3b5d9f2 numbers events per clinic. Existing events keep their numbers, so feed
cursors given out before it stay valid; each clinic continues above the highest number; the
fan-out continues from where the single cursor was, per clinic; and a downgrade numbers the
events deployment-wide again without losing a clinic's order or an undelivered event."""

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from app.core.db import create_engine, create_sessionmaker
from app.core.migrations import downgrade, upgrade
from app.core.outbox import record_event
from app.models import metadata
from app.sync.worker import Worker
from tests.conftest import make_settings
from tests.databases import ENGINES, fresh_database, worker_id

BEFORE = "cf1fd4494cd4"  # the revision before per-clinic numbers
A, B = sorted([uuid.uuid4(), uuid.uuid4()])
NOW = datetime(2026, 12, 1, tzinfo=UTC)
# Deployment-wide numbers, interleaved: A has 1, 3, 5; B has 2, 4. The fan-out was at 3.
OLD_EVENTS = [(1, A), (2, B), (3, A), (4, B), (5, A)]
OLD_CURSOR = 3


def _table(name: str, *columns: str) -> sa.TableClause:
    """Only these columns, typed as the models type them (the revision has others)."""
    return sa.table(name, *(sa.column(c, metadata.tables[name].c[c].type) for c in columns))


clinic = _table("clinic", "id", "name", "timezone", "created_at", "updated_at", "version")
event = _table(
    "event",
    *("sequence", "id", "type", "resource_type", "resource_id"),
    *("clinic_id", "occurred_at", "payload"),
)
webhook = _table(
    "webhook",
    *("id", "clinic_id", "url", "event_types", "active", "secret"),
    *("consecutive_failures", "created_at", "updated_at", "version"),
)
delivery = _table(
    "webhook_delivery",
    *("id", "webhook_id", "event_id", "event_sequence", "event_type"),
    *("status", "attempts", "created_at"),
)


async def old_world(connection) -> dict[int, uuid.UUID]:
    """Two clinics' events at the former revision, A's endpoint with one delivery made."""
    for clinic_id in (A, B):
        await connection.execute(
            sa.insert(clinic).values(
                id=clinic_id,
                name=str(clinic_id),
                timezone="UTC",
                created_at=NOW,
                updated_at=NOW,
                version=1,
            )
        )
    ids = {}
    for sequence, clinic_id in OLD_EVENTS:
        ids[sequence] = uuid.uuid4()
        await connection.execute(
            sa.insert(event).values(
                sequence=sequence,
                id=ids[sequence],
                type="goal.created",
                resource_type="goal",
                resource_id=uuid.uuid4(),
                clinic_id=clinic_id,
                occurred_at=NOW,
                payload={"old": True},
            )
        )
    hook = uuid.uuid4()
    await connection.execute(
        sa.insert(webhook).values(
            id=hook,
            clinic_id=A,
            url="https://hooks.example.com/in",
            event_types=["goal.created"],
            active=True,
            secret="whsec_x",
            consecutive_failures=0,
            created_at=NOW,
            updated_at=NOW,
            version=1,
        )
    )
    for sequence in (1, 3):  # what the fan-out had made up to its cursor
        await connection.execute(
            sa.insert(delivery).values(
                id=uuid.uuid4(),
                webhook_id=hook,
                event_id=ids[sequence],
                event_sequence=sequence,
                event_type="goal.created",
                status="succeeded",
                attempts=1,
                created_at=NOW,
            )
        )
    await connection.execute(
        sa.text("INSERT INTO webhook_dispatch_cursor (id, last_sequence) VALUES (1, :n)"),
        {"n": OLD_CURSOR},
    )
    return ids


async def rows(engine, statement) -> list:
    async with engine.connect() as connection:
        return list(await connection.execute(sa.text(statement)))


@pytest.mark.parametrize("engine_name", ENGINES)
async def test_per_clinic_numbers_continue_the_old_ones_and_a_downgrade_keeps_each_order(
    engine_name, tmp_path
):
    async with fresh_database(engine_name, f"evnum_{worker_id()}", tmp_path) as url:
        await asyncio.to_thread(upgrade, url, BEFORE)
        engine = create_async_engine(url)
        app_engine = create_engine(make_settings(url))
        try:
            async with engine.begin() as connection:
                ids = await old_world(connection)
            await asyncio.to_thread(upgrade, url)

            # Every number stays; each clinic's counter is at the highest one given out, and
            # the fan-out of each clinic is where the single cursor was.
            numbers = await rows(engine, "SELECT clinic_id, sequence FROM event")
            assert sorted((uuid.UUID(str(c)), n) for c, n in numbers) == sorted(
                (c, n) for n, c in OLD_EVENTS
            )
            counters = await rows(engine, "SELECT clinic_id, last_sequence FROM event_counter")
            assert {uuid.UUID(str(c)): n for c, n in counters} == {A: 5, B: 5}
            cursors = await rows(
                engine, "SELECT clinic_id, last_sequence FROM webhook_dispatch_cursor"
            )
            assert {uuid.UUID(str(c)): n for c, n in cursors} == {A: OLD_CURSOR, B: OLD_CURSOR}
            owners = await rows(engine, "SELECT DISTINCT clinic_id FROM webhook_delivery")
            assert [uuid.UUID(str(c)) for (c,) in owners] == [A]

            # New events continue above every old number, each clinic on its own.
            sessionmaker = create_sessionmaker(app_engine)
            async with sessionmaker() as session:
                for clinic_id in (A, B):
                    record_event(
                        session,
                        "goal.created",
                        resource_type="goal",
                        resource_id=uuid.uuid4(),
                        clinic_id=clinic_id,
                        client_id=None,
                        payload={"new": True},
                    )
                await session.commit()
            new = await rows(engine, "SELECT clinic_id, sequence FROM event WHERE sequence > 5")
            assert sorted((uuid.UUID(str(c)), n) for c, n in new) == [(A, 6), (B, 6)]

            # The fan-out picks up after the old cursor: A's 5 and 6, not 1 or 3 again.
            await Worker(sessionmaker).fan_out()
            made = await rows(
                engine, "SELECT event_sequence FROM webhook_delivery ORDER BY event_sequence"
            )
            assert [n for (n,) in made] == [1, 3, 5, 6]

            await asyncio.to_thread(downgrade, url, BEFORE)
            renumbered = await rows(engine, "SELECT sequence, clinic_id, id FROM event")
            order = sorted((n, uuid.UUID(str(c)), uuid.UUID(str(i))) for n, c, i in renumbered)
            assert [n for n, _, _ in order] == [1, 2, 3, 4, 5, 6, 7]
            for clinic_id in (A, B):  # each clinic's events in their former order
                mine = [i for _, c, i in order if c == clinic_id]
                olds = [ids[n] for n, c in OLD_EVENTS if c == clinic_id]
                assert mine[: len(olds)] == olds
            cursor = await rows(engine, "SELECT id, last_sequence FROM webhook_dispatch_cursor")
            assert cursor == [(1, 7)]  # everything had been fanned out
            followed = await rows(
                engine,
                "SELECT d.event_sequence, e.sequence FROM webhook_delivery d "
                "JOIN event e ON e.id = d.event_id",
            )
            assert all(mine == theirs for mine, theirs in followed) and len(followed) == 4
        finally:
            await engine.dispose()
            await app_engine.dispose()
