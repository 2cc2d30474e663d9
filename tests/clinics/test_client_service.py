"""The client service announces new and changed clients itself, as the API answers them; the
one-time invitation code is in the creator's answer only, never in the change feed."""

from sqlalchemy import select

from app.auth.models import User
from app.clinics import service
from app.clinics.schemas import ClientCreate, ClientUpdate
from app.core.outbox import Event
from tests.factories import principal_of


async def test_the_client_service_announces_a_new_client_without_its_invitation(client, world, db):
    body = ClientCreate(email="robin@example.com", display_name="Robin")
    created = await service.create_client(db, principal_of(world.therapist), body)
    await db.commit()
    db.expunge_all()
    (event,) = (await db.execute(select(Event))).scalars()
    assert (event.type, event.client_id) == ("client.created", created.id)
    assert event.payload == created.model_dump(mode="json", exclude={"invitation"})
    assert created.invitation.code not in str(event.payload)


async def test_the_client_service_announces_a_change(client, world, db):
    client_row = await db.get(User, world.client.id)
    changed = await service.update_client(db, client_row, ClientUpdate(display_name="Sam"))
    await db.commit()
    db.expunge_all()
    (event,) = (await db.execute(select(Event))).scalars()
    assert (event.type, event.payload) == ("client.updated", changed.model_dump(mode="json"))
