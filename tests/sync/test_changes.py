"""The change feed: every event once, in commit order, even while writes run concurrently."""

import asyncio

from sqlalchemy import select

from app.core.outbox import Event
from app.core.time import utcnow


async def feed(client, world, cursor=None, who="admin", query=""):
    url = "/v1/changes?limit=1000" + (f"&cursor={cursor}" if cursor else "") + query
    response = await client.get(url, headers=world.auth(who))
    assert response.status_code == 200, response.text
    return response.json()


async def test_writes_announce_themselves_with_the_resource(client, world):
    created = await client.post(
        "/v1/goals",
        headers=world.auth("therapist"),
        json={"client_id": str(world.client.id), "title": "Sleep"},
    )
    page = await feed(client, world)
    (event,) = [e for e in page["items"] if e["type"] == "goal.created"]
    assert event["data"] == created.json()
    assert event["client_id"] == str(world.client.id)
    assert event["resource_id"] == created.json()["id"]
    again = await feed(client, world, page["next_cursor"])
    assert again["items"] == [] and again["next_cursor"] == page["next_cursor"]


async def test_a_rolled_back_write_leaves_no_event(client, world, db):
    bad = await client.post(
        "/v1/goals",
        headers=world.auth("therapist"),
        json={"client_id": str(world.client_other.id), "title": "x"},
    )
    assert bad.status_code == 404
    assert (await db.execute(select(Event))).scalars().all() == []


async def test_therapists_see_only_their_clients_events(client, world, db):
    from tests.factories import make_assignment

    await make_assignment(db, world.therapist_other, world.client_other)
    await db.commit()
    for who, visible in (
        ("therapist", str(world.client.id)),
        ("therapist_other", str(world.client_other.id)),
    ):
        await client.post(
            "/v1/goals", headers=world.auth(who), json={"client_id": visible, "title": "x"}
        )
    mine = await feed(client, world, who="therapist")
    assert {e["client_id"] for e in mine["items"]} == {str(world.client.id)}
    everyone = await feed(client, world, who="admin")
    assert {e["client_id"] for e in everyone["items"]} == {
        str(world.client.id),
        str(world.client_other.id),
    }
    other_clinic = await feed(client, world, who="other_admin")
    assert other_clinic["items"] == []


async def test_feed_filters_by_type_and_client(client, world):
    await client.post(
        "/v1/goals",
        headers=world.auth("therapist"),
        json={"client_id": str(world.client.id), "title": "x"},
    )
    await client.post(
        f"/v1/assignments/{world.assignment.id}/completions",
        headers=world.auth("client"),
        json={"completed_at": utcnow().isoformat(), "status": "skipped", "skip_reason": "forgot"},
    )
    only = await feed(client, world, query="&types=completion.created")
    assert [e["type"] for e in only["items"]] == ["completion.created"]


async def test_a_poller_never_misses_or_repeats_an_event_under_concurrent_writes(client, world, db):
    writers_done = asyncio.Event()
    seen: list[int] = []
    cursor = None

    async def poll_once():
        nonlocal cursor
        page = await feed(client, world, cursor)
        seen.extend(e["sequence"] for e in page["items"])
        cursor = page["next_cursor"]

    async def poller():
        while not writers_done.is_set():
            await poll_once()
            await asyncio.sleep(0)
        await poll_once()

    async def writer(n):
        for i in range(6):
            await client.post(
                "/v1/goals",
                headers=world.auth("therapist"),
                json={"client_id": str(world.client.id), "title": f"goal {n}.{i}"},
            )

    polling = asyncio.create_task(poller())
    await asyncio.gather(*(writer(n) for n in range(8)))
    writers_done.set()
    await polling
    stored = sorted((await db.execute(select(Event.sequence))).scalars().all())
    assert len(stored) == 48
    assert seen == stored  # every event once, in order


async def test_a_forged_cursor_is_a_422(client, world):
    response = await client.get("/v1/changes?cursor=bm9wZQ", headers=world.auth("admin"))
    assert response.status_code == 422
