"""Reminder events: each reminder of each occurrence announced once, whatever the workers."""

import asyncio
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from app.assignments.models import Assignment
from app.core.outbox import Event
from app.core.time import utcnow
from app.sync.worker import Worker
from tests.factories import make_assignment


async def next_reminder(db, assignment_id):
    await db.rollback()  # a fresh snapshot: SQLite keeps a read transaction's view otherwise
    return await db.scalar(
        select(Assignment.next_reminder_at).where(Assignment.id == assignment_id)
    )


async def test_a_timed_assignment_knows_its_next_reminder(client, world, db):
    zone = ZoneInfo(world.client.timezone)
    tomorrow = utcnow().astimezone(zone).date() + timedelta(days=1)
    assignment = await make_assignment(
        db,
        world.therapist,
        world.client,
        schedule={"start_date": str(tomorrow), "rrule": "FREQ=DAILY", "times": ["08:00"]},
        reminders={"minutes_before": [30]},
    )
    await db.commit()
    body = (
        await client.get(f"/v1/assignments/{assignment.id}", headers=world.auth("client"))
    ).json()
    local = datetime.fromisoformat(body["next_reminder_at"]).astimezone(zone)
    assert (local.date(), local.hour, local.minute) == (tomorrow, 7, 30)


async def test_two_workers_announce_a_due_reminder_once(world, db, app):
    assignment = await make_assignment(
        db,
        world.therapist,
        world.client,
        schedule={
            "start_date": str(utcnow().date() - timedelta(days=1)),
            "rrule": "FREQ=DAILY",
            "times": ["08:00", "20:00"],
        },
        reminders={"minutes_before": [15]},
    )
    await db.commit()
    assignment_id, client_id = assignment.id, world.client.id
    due = utcnow() - timedelta(minutes=5)
    await db.execute(
        update(Assignment).where(Assignment.id == assignment_id).values(next_reminder_at=due)
    )
    await db.commit()
    workers = [Worker(app.state.sessionmaker) for _ in range(2)]
    for _ in range(2):
        await asyncio.gather(*(w.announce_reminders() for w in workers))
    events = (
        (await db.execute(select(Event).where(Event.type == "assignment.reminder_due")))
        .scalars()
        .all()
    )
    assert len(events) == 1
    assert events[0].payload["assignment_id"] == str(assignment_id)
    assert events[0].client_id == client_id
    assert await next_reminder(db, assignment_id) > due


async def test_a_paused_assignment_has_no_reminder(client, world, db):
    assignment_id = world.assignment.id
    url = f"/v1/assignments/{assignment_id}"
    await client.patch(
        url, headers=world.auth("therapist"), json={"reminders": {"untimed_at": "19:00"}}
    )
    assert await next_reminder(db, assignment_id) is not None
    await client.patch(url, headers=world.auth("therapist"), json={"status": "paused"})
    assert await next_reminder(db, assignment_id) is None
