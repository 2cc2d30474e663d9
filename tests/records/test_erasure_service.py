"""Erasing a client is one service call that also writes the tombstone event: the change feed
hears of it whoever erases."""

from sqlalchemy import select

from app.core.outbox import Event
from app.records.service import erase_client
from tests.factories import principal_of


async def test_erasing_through_the_service_leaves_only_the_tombstone(client, world, db):
    client_id = world.client.id
    await erase_client(db, principal_of(world.admin), client_id)
    await db.commit()
    db.expunge_all()
    events = (await db.execute(select(Event.type, Event.client_id, Event.payload))).all()
    assert events == [("client.deleted", client_id, {"id": str(client_id), "deleted": True})]
