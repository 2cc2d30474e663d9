"""The outbox writes a transaction's events at its outermost commit only: a released savepoint's
events wait for it, a rolled-back savepoint's events are never emitted."""

import uuid

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from app.clinics.models import Clinic
from app.core.ids import new_id
from app.core.outbox import (
    LOCK_SPACE,
    Event,
    EventCounter,
    QueuedEvent,
    clinic_lock_key,
    record_event,
    write_before_commit,
)
from tests.statements import statements

CLINIC = uuid.uuid4()  # events of one clinic: its feed's order is the order of its numbers


def queue(db, type_: str, clinic_id: uuid.UUID = CLINIC) -> None:
    record_event(
        db,
        type_,
        resource_type="test",
        resource_id=uuid.uuid4(),
        clinic_id=clinic_id,
        client_id=None,
        payload={"type": type_},
    )


async def emitted(db, clinic_id: uuid.UUID = CLINIC) -> list[str]:
    return list(
        (
            await db.execute(
                select(Event.type).where(Event.clinic_id == clinic_id).order_by(Event.sequence)
            )
        ).scalars()
    )


async def clinic_locks_held(db) -> int:
    return await db.scalar(
        text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
            "AND pid = pg_backend_pid() AND classid = :space"
        ),
        {"space": LOCK_SPACE},
    )


async def test_a_released_savepoints_events_wait_for_the_outermost_commit(client, db):
    queue(db, "test.before")
    async with db.begin_nested():
        queue(db, "test.inside")
    assert await emitted(db) == []  # nothing written at the savepoint's release
    if db.get_bind().dialect.name == "postgresql":
        assert await clinic_locks_held(db) == 0  # nor the clinic's lock taken
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
    if db.get_bind().dialect.name == "postgresql":
        # One statement queues them; the COMMIT's trigger numbers them.
        assert len(writes) == 1
        assert writes[0].startswith("INSERT INTO event_queue ")
        assert "pg_advisory" not in writes[0] and "event_counter" not in writes[0]
    else:  # SQLite, one writer at a time: the counter, then the rows
        assert [w.split("(")[0].strip() for w in writes] == [
            "INSERT INTO event_counter",
            "INSERT INTO event",
        ]
    assert await emitted(db) == ["test.first", "test.second"]
    payloads = (await db.execute(select(Event.payload).order_by(Event.sequence))).scalars()
    assert list(payloads) == [{"type": "test.first"}, {"type": "test.second"}]


async def test_each_clinic_numbers_its_own_events_in_commit_order(client, db):
    other = uuid.uuid4()
    queue(db, "test.a1")
    queue(db, "test.b1", other)
    queue(db, "test.a2")
    await db.commit()
    queue(db, "test.b2", other)
    await db.commit()
    numbered = (
        await db.execute(select(Event.clinic_id, Event.sequence, Event.type).order_by(Event.type))
    ).all()
    assert [(clinic, number) for clinic, number, _ in numbered] == [
        (CLINIC, 1),
        (CLINIC, 2),
        (other, 1),
        (other, 2),
    ]
    counters = await db.execute(select(EventCounter.clinic_id, EventCounter.last_sequence))
    assert dict(counters.all()) == {CLINIC: 2, other: 2}


async def test_the_clinics_lock_is_taken_in_the_commit_not_before(client, db):
    if db.get_bind().dialect.name != "postgresql":
        pytest.skip("the numbering trigger is PostgreSQL's (SQLite numbers in the commit hook)")
    queue(db, "test.queued")
    await write_before_commit(db)
    assert await clinic_locks_held(db) == 0  # queued, not numbered: no lock yet
    assert await db.scalar(select(func.count()).select_from(QueuedEvent)) == 1
    assert await emitted(db) == []
    await db.commit()
    assert await emitted(db) == ["test.queued"]
    assert await db.scalar(select(func.count()).select_from(QueuedEvent)) == 0


async def test_the_trigger_locks_the_clinic_the_app_would(client, db):
    if db.get_bind().dialect.name != "postgresql":
        pytest.skip("the numbering trigger is PostgreSQL's")
    ids = [new_id() for _ in range(50)] + [uuid.uuid4() for _ in range(50)]
    ids += [uuid.UUID(int=0), uuid.UUID(int=2**128 - 1), uuid.UUID(int=2**31)]
    for clinic_id in ids:
        key = await db.scalar(text("SELECT event_clinic_lock_key(:id)"), {"id": clinic_id})
        assert key == clinic_lock_key(clinic_id)


def test_clinics_made_together_get_different_locks():
    """Ids the app mints are UUIDv7: their first bits are a shared timestamp."""
    keys = {clinic_lock_key(new_id()) for _ in range(1000)}
    assert len(keys) >= 995
    assert all(-(2**31) <= key < 2**31 for key in keys)
