"""The assignment service announces what it changes (the router no longer does), and reads the
client's time zone only when a new schedule needs it."""

from sqlalchemy import select

from app.assignments import service
from app.assignments.models import Assignment
from app.assignments.schemas import AssignmentCreate, AssignmentUpdate
from app.core.outbox import Event
from app.core.time import utcnow
from app.templates.service import builtin_template_id
from tests.factories import principal_of
from tests.statements import statements


async def _event_types(db) -> list[str]:
    db.expunge_all()
    return list((await db.execute(select(Event.type).order_by(Event.sequence))).scalars())


async def test_the_assignment_service_announces_creation_change_and_cancellation(client, world, db):
    body = AssignmentCreate.model_validate(
        {
            "client_id": str(world.client.id),
            "template_id": str(builtin_template_id("thought-record")),
            "schedule": {"start_date": utcnow().date().isoformat(), "rrule": "FREQ=DAILY"},
        }
    )
    created = await service.create_assignment(db, principal_of(world.therapist), body)
    assignment = await db.get(Assignment, created.id)
    await service.update_assignment(db, assignment, AssignmentUpdate(instructions="Evenings"))
    await service.update_assignment(db, assignment, AssignmentUpdate(status="paused"))
    await service.cancel_assignment(db, assignment)
    await db.commit()
    assert await _event_types(db) == [
        "assignment.created",
        "assignment.updated",
        "assignment.updated",
        "assignment.cancelled",
    ]
    stored = await db.execute(select(Event.payload).where(Event.type == "assignment.created"))
    assert stored.scalar_one() == created.model_dump(mode="json")


def _timezone_reads(seen: list[str]) -> list[str]:
    return [s for s in seen if s.startswith(("SELECT user.timezone", 'SELECT "user".timezone'))]


async def test_a_change_without_a_schedule_does_not_read_the_clients_time_zone(client, world, app):
    url = f"/v1/assignments/{world.assignment.id}"
    with statements(app) as seen:
        response = await client.patch(
            url, headers=world.auth("therapist"), json={"instructions": "After dinner"}
        )
    assert response.status_code == 200, response.text
    assert _timezone_reads(seen) == []
    with statements(app) as seen:
        response = await client.patch(
            url,
            headers=world.auth("therapist"),
            json={"schedule": {"start_date": utcnow().date().isoformat(), "rrule": "FREQ=WEEKLY"}},
        )
    assert response.status_code == 200, response.text
    assert len(_timezone_reads(seen)) == 1
