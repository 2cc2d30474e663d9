"""Webhooks carry data out: subscribing needs the read scope of what the events carry, and an
endpoint whose owner loses it (revoked, deactivated, scope gone) stops receiving."""

import pytest
from sqlalchemy import select

from app.auth.models import Role
from app.auth.principal import ROLE_SCOPES
from app.auth.tokens import user_access_token
from app.sync.models import Webhook, WebhookDelivery
from app.sync.worker import Worker
from tests.factories import API_SECRET, make_api_client, make_user
from tests.sync.test_webhooks import drain, register

GOAL = {"title": "Walk"}


async def _api_client_token(client, world, db, scopes):
    api_client = await make_api_client(db, world.clinic, scopes)
    await db.commit()
    response = await client.post(
        "/v1/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": str(api_client.id),
            "client_secret": API_SECRET,
        },
    )
    assert response.status_code == 200, response.text
    return api_client, {"Authorization": f"Bearer {response.json()['access_token']}"}


async def _create_goal(client, world):
    response = await client.post(
        "/v1/goals",
        headers=world.auth("therapist"),
        json={"client_id": str(world.client.id), **GOAL},
    )
    assert response.status_code == 201


async def test_a_write_only_api_client_cannot_subscribe_to_data_events(client, world, db):
    _, headers = await _api_client_token(client, world, db, ["homework:write"])
    for event_type in ("completion.created", "client.created", "comment.created"):
        response = await client.post(
            "/v1/webhooks",
            headers=headers,
            json={"url": "https://hooks.example/in", "event_types": [event_type]},
        )
        assert response.status_code == 403, response.text
        assert response.json()["errors"][0]["loc"] == ["body", "event_types"]
        assert "homework:read" in response.json()["detail"]
    assert (await db.execute(select(Webhook))).scalars().all() == []


async def test_a_write_only_api_client_cannot_widen_an_endpoint_it_may_change(
    client,
    world,
    db,
    receiver,
    loopback_allowed,
):
    hook = await register(client, world, receiver, ["goal.created"])
    _, headers = await _api_client_token(client, world, db, ["homework:write"])
    response = await client.patch(
        f"/v1/webhooks/{hook['id']}", headers=headers, json={"url": receiver.url}
    )
    assert response.status_code == 403


async def test_deliveries_stop_when_the_owning_api_client_is_revoked(
    client,
    world,
    db,
    app,
    receiver,
    loopback_allowed,
):
    api_client, headers = await _api_client_token(
        client, world, db, ["homework:read", "homework:write"]
    )
    created = await client.post(
        "/v1/webhooks", headers=headers, json={"url": receiver.url, "event_types": ["goal.created"]}
    )
    assert created.status_code == 201, created.text
    receiver.secret = created.json()["secret"]
    await _create_goal(client, world)
    await drain(app)
    assert len(receiver.events) == 1

    revoked = await client.delete(f"/v1/api-clients/{api_client.id}", headers=world.auth("admin"))
    assert revoked.status_code == 204
    await _create_goal(client, world)
    await drain(app)
    assert len(receiver.events) == 1
    hook = (
        await client.get(f"/v1/webhooks/{created.json()['id']}", headers=world.auth("admin"))
    ).json()
    assert hook["active"] is False and hook["disabled_at"] is not None


async def test_a_pending_delivery_is_not_sent_once_the_owner_lost_the_scope(
    client,
    world,
    db,
    app,
    receiver,
    loopback_allowed,
):
    """Fanned out while the owner could read, delivered after it was deactivated: dropped."""
    await register(client, world, receiver, ["goal.created"])
    await _create_goal(client, world)
    worker = Worker(app.state.sessionmaker, allow_http_loopback=True)
    await worker.fan_out()
    second = await make_user(db, world.clinic, Role.admin)
    await db.commit()
    token = user_access_token(app.state.jwt, app.state.settings, second, ROLE_SCOPES[Role.admin])
    response = await client.patch(
        f"/v1/users/{world.admin.id}",
        headers={"Authorization": f"Bearer {token}"},
        json={"status": "deactivated"},
    )
    assert response.status_code == 200, response.text
    await worker.deliver_due()
    assert receiver.calls == 0
    delivery = (await db.execute(select(WebhookDelivery))).scalar_one()
    await db.refresh(delivery)
    assert delivery.status == "failed" and "scope" in (delivery.last_error or "")


async def test_an_admin_with_read_and_write_keeps_receiving(
    client,
    world,
    app,
    receiver,
    loopback_allowed,
):
    await register(client, world, receiver, ["goal.created"])
    await _create_goal(client, world)
    await _create_goal(client, world)
    await drain(app)
    assert len(receiver.events) == 2


async def test_disabling_an_endpoint_whose_owner_left_survives_a_concurrent_change(app, db, world):
    """The fan-out disables such an endpoint by one statement: a change of the endpoint
    committed meanwhile (its version moved on) neither fails the round nor is overwritten."""
    if app.state.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: nothing commits between read and write")
    from sqlalchemy import func, update

    from app.core.outbox import Event
    from tests.factories import make_webhook

    api_client = await make_api_client(db, world.clinic, ["homework:read"])
    webhook = await make_webhook(db, world.clinic, event_types=["goal.created"])
    webhook.created_by_api_client_id = api_client.id
    webhook.owner_scopes = ["homework:read"]
    await db.commit()
    before = webhook.version
    worker = Worker(app.state.sessionmaker)
    async with app.state.sessionmaker() as session:
        (loaded,) = (
            await session.execute(select(Webhook).where(Webhook.id == webhook.id))
        ).scalars()
        # Meanwhile: the owner is revoked and an admin renames the endpoint's URL.
        from app.auth.models import ApiClient
        from app.core.time import utcnow

        await db.execute(
            update(ApiClient).where(ApiClient.id == api_client.id).values(revoked_at=utcnow())
        )
        await db.execute(
            update(Webhook)
            .where(Webhook.id == webhook.id)
            .values(url="https://hooks.example.com/moved", version=Webhook.version + 1)
        )
        await db.commit()
        assert await worker._heard_by_owners(session, [loaded]) == []
        await session.commit()
    await db.rollback()
    db.expunge_all()
    stored = await db.get(Webhook, webhook.id)
    assert stored is not None
    assert stored.active is False and stored.url == "https://hooks.example.com/moved"
    assert stored.version == before + 2  # renamed, then disabled
    announced = await db.scalar(
        select(func.count()).select_from(Event).where(Event.type == "webhook.disabled")
    )
    assert announced == 1
