"""Each clinic's feed is numbered on its own: writers of many clinics commit side by side, and
each clinic's pollers and webhook fan-out still see every event of theirs once, in commit order."""

import asyncio
import uuid

import pytest
from sqlalchemy import select, text

from app.auth.models import Role
from app.auth.principal import ROLE_SCOPES
from app.auth.tokens import user_access_token
from app.clinics.models import Clinic
from app.core.outbox import LOCK_SPACE, Event, clinic_lock_key, record_event
from app.sync.models import DispatchCursor, WebhookDelivery
from app.sync.worker import Worker
from tests.factories import make_clinic, make_user, make_webhook

CLINICS = 6
WRITERS_PER_CLINIC = 3
WRITES_PER_WRITER = 4


async def admins_of_new_clinics(db, app, count: int) -> dict[uuid.UUID, dict[str, str]]:
    """`count` clinics, each with an admin: the clinic's id and its admin's headers."""
    headers = {}
    for n in range(count):
        clinic = await make_clinic(db, f"Clinic {n}")
        admin = await make_user(db, clinic, Role.admin)
        token = user_access_token(app.state.jwt, app.state.settings, admin, ROLE_SCOPES[Role.admin])
        headers[clinic.id] = {"Authorization": f"Bearer {token}"}
    await db.commit()
    return headers


async def test_pollers_of_many_clinics_see_their_own_events_once_in_order(client, app, db):
    admins = await admins_of_new_clinics(db, app, CLINICS)
    seen: dict[uuid.UUID, list[int]] = {clinic: [] for clinic in admins}
    foreign: list[str] = []
    writers_done = asyncio.Event()

    async def poller(clinic: uuid.UUID) -> None:
        cursor = None

        async def poll_once() -> None:
            nonlocal cursor
            url = "/v1/changes?limit=1000" + (f"&cursor={cursor}" if cursor else "")
            page = (await client.get(url, headers=admins[clinic])).json()
            seen[clinic].extend(e["sequence"] for e in page["items"])
            foreign.extend(e["id"] for e in page["items"] if e["clinic_id"] != str(clinic))
            cursor = page["next_cursor"]

        while not writers_done.is_set():
            await poll_once()
            await asyncio.sleep(0)
        await poll_once()

    async def writer(clinic: uuid.UUID, n: int) -> None:
        for i in range(WRITES_PER_WRITER):
            response = await client.post(
                "/v1/clients",
                headers=admins[clinic],
                json={
                    "email": f"w{n}-{i}-{uuid.uuid4().hex[:8]}@example.com",
                    "display_name": "Sam",
                },
            )
            assert response.status_code == 201, response.text

    polling = [asyncio.create_task(poller(clinic)) for clinic in admins]
    await asyncio.gather(
        *(writer(clinic, n) for clinic in admins for n in range(WRITERS_PER_CLINIC))
    )
    writers_done.set()
    await asyncio.gather(*polling)

    assert foreign == []
    for clinic in admins:
        stored = await db.scalars(
            select(Event.sequence).where(Event.clinic_id == clinic).order_by(Event.sequence)
        )
        numbers = list(stored)
        assert len(numbers) == WRITERS_PER_CLINIC * WRITES_PER_WRITER
        assert seen[clinic] == numbers  # every event once, in order
        assert numbers == list(range(1, len(numbers) + 1))  # a new clinic counts from 1


async def test_a_clinic_waits_only_for_its_own_committing_writers(client, app, db, world):
    """A transaction holding clinic A's counter row delays A's next event, never B's."""
    if app.state.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: clinics cannot commit side by side")
    sessionmaker = app.state.sessionmaker

    def queue(session, clinic_id: uuid.UUID, type_: str) -> None:
        record_event(
            session,
            type_,
            resource_type="test",
            resource_id=uuid.uuid4(),
            clinic_id=clinic_id,
            client_id=None,
            payload={},
        )

    async with sessionmaker() as holder:
        queue(holder, world.clinic.id, "test.first")
        await holder.flush()
        # The outbox's statement runs at commit: take what a committing writer of A holds
        # (A's lock and counter row) now, and keep it.
        await holder.execute(
            text("SELECT pg_advisory_xact_lock(:space, :key)"),
            {"space": LOCK_SPACE, "key": clinic_lock_key(world.clinic.id)},
        )
        await holder.execute(
            text("SELECT 1 FROM event_counter WHERE clinic_id = :c FOR UPDATE"),
            {"c": world.clinic.id},
        )
        holder_pid = await holder.scalar(text("SELECT pg_backend_pid()"))

        async def commit_one(clinic_id: uuid.UUID, type_: str) -> int:
            async with sessionmaker() as session:
                queue(session, clinic_id, type_)
                await session.commit()
                return await session.scalar(select(Event.sequence).where(Event.type == type_))

        other = await asyncio.wait_for(commit_one(world.other_clinic.id, "test.other"), 30)
        waiting = asyncio.create_task(commit_one(world.clinic.id, "test.second"))
        blocked_by_holder = text(
            "SELECT count(*) FROM pg_stat_activity WHERE :holder = ANY(pg_blocking_pids(pid))"
        )
        for _ in range(3000):
            if await db.scalar(blocked_by_holder, {"holder": holder_pid}):
                break
            await asyncio.sleep(0.01)
        assert await db.scalar(blocked_by_holder, {"holder": holder_pid}) == 1
        assert not waiting.done()
        await holder.commit()
    second = await asyncio.wait_for(waiting, 30)
    first = await db.scalar(select(Event.sequence).where(Event.type == "test.first"))
    assert other >= 1
    assert second == first + 1  # A's numbers follow A's commit order


async def test_fan_out_keeps_a_cursor_per_clinic_and_two_workers_share_the_clinics(client, app, db):
    admins = await admins_of_new_clinics(db, app, CLINICS)
    hooks = {}
    for clinic_id in admins:
        clinic = await db.get(Clinic, clinic_id)
        hooks[clinic_id] = await make_webhook(db, clinic, event_types=["client.created"])
    await db.commit()
    for headers in admins.values():
        for n in range(3):
            response = await client.post(
                "/v1/clients",
                headers=headers,
                json={"email": f"f{n}-{uuid.uuid4().hex}@x.org", "display_name": "Sam"},
            )
            assert response.status_code == 201, response.text

    first, second = (Worker(app.state.sessionmaker) for _ in range(2))
    await asyncio.gather(first.fan_out(), second.fan_out())
    await asyncio.gather(first.fan_out(), second.fan_out())

    deliveries = (await db.execute(select(WebhookDelivery))).scalars().all()
    assert len(deliveries) == CLINICS * 3
    assert len({(d.webhook_id, d.event_id) for d in deliveries}) == len(deliveries)
    for delivery in deliveries:
        assert hooks[delivery.clinic_id].id == delivery.webhook_id
    cursors = await db.execute(select(DispatchCursor.clinic_id, DispatchCursor.last_sequence))
    assert {clinic: last for clinic, last in cursors if clinic in admins} == dict.fromkeys(
        admins, 3
    )


async def test_one_round_fans_out_every_clinic_behind_not_only_the_first_batch(
    client, app, db, monkeypatch
):
    from app.sync import worker as worker_module

    monkeypatch.setattr(worker_module, "CLINICS_PER_BATCH", 2)
    admins = await admins_of_new_clinics(db, app, 5)
    for clinic_id in admins:
        await make_webhook(db, await db.get(Clinic, clinic_id), event_types=["client.created"])
    await db.commit()
    for headers in admins.values():
        response = await client.post(
            "/v1/clients",
            headers=headers,
            json={"email": f"b-{uuid.uuid4().hex}@x.org", "display_name": "Sam"},
        )
        assert response.status_code == 201, response.text

    assert await Worker(app.state.sessionmaker).fan_out() == 5
    clinics = await db.scalars(select(WebhookDelivery.clinic_id))
    assert sorted(clinics) == sorted(admins)
