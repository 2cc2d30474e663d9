"""The outbox writes a transaction's events at its outermost commit only: a released savepoint's
events wait for it, a rolled-back savepoint's events are never emitted."""

import uuid

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from app.clinics.models import Clinic
from app.core.outbox import OUTBOX_LOCK_KEY, Event, record_event
from tests.statements import statements


def queue(db, type_: str) -> None:
    record_event(
        db,
        type_,
        resource_type="test",
        resource_id=uuid.uuid4(),
        clinic_id=uuid.uuid4(),
        client_id=None,
        payload={"type": type_},
    )


async def emitted(db) -> list[str]:
    return list((await db.execute(select(Event.type).order_by(Event.sequence))).scalars())


async def outbox_locks_held(db) -> int:
    return await db.scalar(
        text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
            "AND pid = pg_backend_pid() AND objid = :key"
        ),
        {"key": OUTBOX_LOCK_KEY},
    )


async def test_a_released_savepoints_events_wait_for_the_outermost_commit(client, db):
    queue(db, "test.before")
    async with db.begin_nested():
        queue(db, "test.inside")
    assert await emitted(db) == []  # nothing written at the savepoint's release
    if db.get_bind().dialect.name == "postgresql":
        assert await outbox_locks_held(db) == 0  # nor the global lock taken
    queue(db, "test.after")
    await db.commit()
    assert await emitted(db) == ["test.before", "test.inside", "test.after"]


async def test_a_rolled_back_savepoints_events_are_dropped_and_only_those(client, db):
    queue(db, "test.before")
    with pytest.raises(RuntimeError):
        async with db.begin_nested():
            queue(db, "test.rolled_back")
            raise RuntimeError("abandon the savepoint")
    async with db.begin_nested():
        queue(db, "test.kept")
        async with db.begin_nested():
            queue(db, "test.inner_kept")
    await db.commit()
    assert await emitted(db) == ["test.before", "test.kept", "test.inner_kept"]


async def test_a_savepoint_that_fails_to_flush_emits_nothing_of_its_own(client, db):
    clinic = Clinic(name="Once", timezone="UTC")
    db.add(clinic)
    await db.commit()
    db.expunge(clinic)  # so that the duplicate below reaches the database
    queue(db, "test.before")
    with pytest.raises(IntegrityError):
        async with db.begin_nested():
            queue(db, "test.duplicate")
            db.add(Clinic(id=clinic.id, name="Twice", timezone="UTC"))
    await db.commit()
    assert await emitted(db) == ["test.before"]


async def test_a_rolled_back_transaction_emits_nothing(client, db):
    queue(db, "test.before")
    async with db.begin_nested():
        queue(db, "test.inside")
    await db.rollback()
    queue(db, "test.next")
    await db.commit()
    assert await emitted(db) == ["test.next"]


async def test_the_outermost_commit_writes_its_events_in_one_statement(client, db, app):
    queue(db, "test.first")
    queue(db, "test.second")
    with statements(app) as seen:
        await db.commit()
    writes = [s for s in seen if "event" in s.lower()]
    assert len(writes) == 1
    if db.get_bind().dialect.name == "postgresql":
        # The global lock is taken by the same statement, before any row is formed.
        assert writes[0].startswith("WITH outbox_lock AS (SELECT pg_advisory_xact_lock(")
        assert "INSERT INTO event" in writes[0]
    assert await emitted(db) == ["test.first", "test.second"]
    payloads = (await db.execute(select(Event.payload).order_by(Event.sequence))).scalars()
    assert list(payloads) == [{"type": "test.first"}, {"type": "test.second"}]
