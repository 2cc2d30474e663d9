"""Webhooks end to end: a real receiver on a loopback port, signed deliveries, retries."""

import asyncio
import json
import socket
import uuid

import pytest
import uvicorn
from sqlalchemy import select

from app.core.time import utcnow
from app.sync.models import WebhookDelivery
from app.sync.signing import verify
from app.sync.worker import Worker
from tests.factories import make_webhook


class Receiver:
    """A tiny ASGI app that verifies signatures and can fail its first N calls."""

    def __init__(self, fail_first: int = 0, delay: float = 0.0) -> None:
        self.fail_first, self.delay = fail_first, delay
        self.calls = 0
        self.events: list[dict] = []
        self.secret = ""
        self.bad_signatures = 0

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        self.calls += 1
        await asyncio.sleep(self.delay)
        status = 200
        if self.calls <= self.fail_first:
            status = 500
        elif not verify(self.secret, headers.get("webhook-signature", ""), body):
            self.bad_signatures += 1
            status = 400
        else:
            event = json.loads(body)
            assert headers["webhook-id"] == event["id"]
            self.events.append(event)
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture
async def receiver():
    app = Receiver()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    app.url = f"http://127.0.0.1:{port}/hook"
    yield app
    server.should_exit = True
    await task


async def register(client, world, receiver, types):
    response = await client.post(
        "/v1/webhooks",
        headers=world.auth("admin"),
        json={"url": receiver.url, "event_types": types},
    )
    assert response.status_code == 201, response.text
    receiver.secret = response.json()["secret"]
    return response.json()


@pytest.fixture
def loopback_allowed(app, monkeypatch):
    monkeypatch.setattr(app.state.settings, "webhook_allow_http_loopback", True)


async def drain(app, rounds=5):
    worker = Worker(app.state.sessionmaker, allow_http_loopback=True)
    for _ in range(rounds):
        await worker.run_once()
    return worker


async def test_every_event_of_a_scenario_arrives_once_and_signed(
    client, world, app, receiver, loopback_allowed
):
    await register(client, world, receiver, ["goal.created", "goal.updated", "completion.created"])
    goal = (
        await client.post(
            "/v1/goals",
            headers=world.auth("therapist"),
            json={"client_id": str(world.client.id), "title": "Walk"},
        )
    ).json()
    await client.patch(f"/v1/goals/{goal['id']}", headers=world.auth("client"), json={"why": "air"})
    await client.post(
        f"/v1/assignments/{world.assignment.id}/completions",
        headers=world.auth("client"),
        json={"completed_at": utcnow().isoformat(), "status": "skipped", "skip_reason": "forgot"},
    )
    await client.post(
        "/v1/goals",
        headers=world.auth("other_therapist"),
        json={"client_id": str(world.other_client.id), "title": "Other clinic"},
    )
    await drain(app)
    assert receiver.bad_signatures == 0
    # Deliveries run in parallel; receivers order by `sequence`.
    ordered = sorted(receiver.events, key=lambda e: e["sequence"])
    assert [e["type"] for e in ordered] == ["goal.created", "goal.updated", "completion.created"]
    assert len({e["id"] for e in receiver.events}) == 3
    assert ordered[0]["data"]["id"] == goal["id"]
    await drain(app)  # nothing is sent twice
    assert receiver.calls == 3


async def test_a_failing_receiver_gets_the_delivery_on_the_third_attempt(
    client, world, app, receiver, loopback_allowed, monkeypatch
):
    receiver.fail_first = 2
    monkeypatch.setattr("app.sync.worker.next_retry_delay", lambda attempt, rng=None: 0.0)
    hook = await register(client, world, receiver, ["goal.created"])
    await client.post(
        "/v1/goals",
        headers=world.auth("therapist"),
        json={"client_id": str(world.client.id), "title": "Walk"},
    )
    await drain(app, rounds=4)
    assert receiver.calls == 3 and len(receiver.events) == 1
    deliveries = (
        await client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=world.auth("admin"))
    ).json()["items"]
    assert [(d["status"], d["attempts"], d["last_status_code"]) for d in deliveries] == [
        ("succeeded", 3, 200)
    ]


async def test_failures_back_off_and_a_manual_retry_sends_at_once(
    client, world, app, receiver, loopback_allowed, db
):
    receiver.fail_first = 1
    hook = await register(client, world, receiver, ["goal.created"])
    await client.post(
        "/v1/goals",
        headers=world.auth("therapist"),
        json={"client_id": str(world.client.id), "title": "Walk"},
    )
    await drain(app, rounds=2)
    delivery = (await db.execute(select(WebhookDelivery))).scalar_one()
    assert delivery.status == "pending" and delivery.next_attempt_at > utcnow()
    assert receiver.calls == 1  # the backoff holds the next attempt back
    retried = await client.post(
        f"/v1/webhooks/{hook['id']}/deliveries/{delivery.id}/retry", headers=world.auth("admin")
    )
    assert retried.status_code == 200
    await drain(app, rounds=1)
    assert receiver.calls == 2 and len(receiver.events) == 1


async def test_ping_reaches_only_that_endpoint(client, world, app, receiver, loopback_allowed):
    hook = await register(client, world, receiver, ["goal.created"])
    pinged = await client.post(f"/v1/webhooks/{hook['id']}/ping", headers=world.auth("admin"))
    assert pinged.status_code == 202
    await drain(app, rounds=1)
    assert [e["type"] for e in receiver.events] == ["webhook.ping"]


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/hook",
        "https://10.1.2.3/hook",
        "https://169.254.169.254/latest",
        "https://user:pw@example.com/",
        "https://localhost/hook",
    ],
)
async def test_unsafe_urls_are_refused(client, world, url):
    response = await client.post(
        "/v1/webhooks",
        headers=world.auth("admin"),
        json={"url": url, "event_types": ["goal.created"]},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "url"]


async def test_the_secret_is_shown_once(client, world, receiver, loopback_allowed):
    hook = await register(client, world, receiver, ["goal.created"])
    again = await client.get(f"/v1/webhooks/{hook['id']}", headers=world.auth("admin"))
    assert hook["secret"].startswith("whsec_") and hook["secret"] not in again.text


async def test_two_workers_never_deliver_one_event_twice(
    client, world, app, receiver, loopback_allowed, database_url
):
    receiver.delay = 0.05
    await register(client, world, receiver, ["goal.created"])
    for n in range(12):
        await client.post(
            "/v1/goals",
            headers=world.auth("therapist"),
            json={"client_id": str(world.client.id), "title": f"g{n}"},
        )
    first = Worker(app.state.sessionmaker, allow_http_loopback=True, batch=4)
    second = Worker(app.state.sessionmaker, allow_http_loopback=True, batch=4)
    for _ in range(6):
        await asyncio.gather(first.run_once(), second.run_once())
    ids = [e["id"] for e in receiver.events]
    assert len(ids) == 12 and len(set(ids)) == 12
    assert receiver.calls == 12


async def claimed_deliveries(db, clinic_id, webhook_id, count: int) -> list:
    from app.sync.models import WebhookDelivery

    deliveries = [
        WebhookDelivery(
            clinic_id=clinic_id,
            webhook_id=webhook_id,
            event_id=uuid.uuid4(),
            event_sequence=0,
            event_type="completion.created",
            attempts=1,
        )
        for _ in range(count)
    ]
    db.add_all(deliveries)
    await db.commit()
    return [d.id for d in deliveries]


async def test_outcomes_recorded_at_once_on_one_endpoint_all_land(client, world, app, db):
    """A batch's attempts (and other workers') finish together: a failure and a success on the
    same endpoint are both recorded, none rolled back (and so sent again) by the other."""
    from app.sync.models import Webhook, WebhookDelivery

    webhook = await make_webhook(db, world.clinic)
    webhook.consecutive_failures, webhook_id, clinic_id = 1, webhook.id, world.clinic.id
    await db.commit()
    worker = Worker(app.state.sessionmaker)
    for _ in range(10):
        failed, succeeded = await claimed_deliveries(db, clinic_id, webhook_id, 2)
        await asyncio.gather(
            worker._record(failed, False, 500, "HTTP 500"),
            worker._record(succeeded, True, 200, None),
        )
        db.expire_all()
        assert (await db.get(WebhookDelivery, succeeded)).status == "succeeded"
        retry = await db.get(WebhookDelivery, failed)
        assert retry.status == "pending" and retry.last_status_code == 500
    assert (await db.get(Webhook, webhook_id)).consecutive_failures in (0, 1)


async def test_an_endpoint_failing_from_two_attempts_at_once_is_disabled_once(
    client, world, app, db
):
    from app.core.outbox import Event
    from app.sync.backoff import DISABLE_AFTER_CONSECUTIVE_FAILURES
    from app.sync.models import Webhook

    webhook = await make_webhook(db, world.clinic)
    webhook.consecutive_failures = DISABLE_AFTER_CONSECUTIVE_FAILURES - 1
    await db.commit()
    webhook_id, version = webhook.id, webhook.version
    worker = Worker(app.state.sessionmaker)
    first, second = await claimed_deliveries(db, world.clinic.id, webhook_id, 2)
    await asyncio.gather(
        worker._record(first, False, 500, "HTTP 500"),
        worker._record(second, False, 500, "HTTP 500"),
    )
    db.expire_all()
    stored = await db.get(Webhook, webhook_id)
    assert stored.active is False and stored.disabled_at is not None
    assert stored.consecutive_failures == DISABLE_AFTER_CONSECUTIVE_FAILURES + 1
    assert stored.version > version  # its ETag changed with it
    disabled = await db.scalars(select(Event).where(Event.type == "webhook.disabled"))
    assert [e.resource_id for e in disabled] == [webhook_id]
