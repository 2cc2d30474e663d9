"""The change feed writes its pages from the stored payloads (the items themselves in SQL on
PostgreSQL): parsed, a page must be exactly what `ChangePage` of the same events gives."""

import uuid
from datetime import UTC, datetime

from sqlalchemy import select

from app.core.outbox import Event
from app.core.pagination import encode_cursor
from app.sync.schemas import ChangePage, EventRead

PAYLOAD = {
    "text": 'é ☃ "quoted" \\ back\nslash \u2028 <tag> & 100%',
    "half": 1.5,
    "tiny": 1e-7,
    "sum": 0.1 + 0.2,
    "big": 12_345_678_901_234,
    "negative": -3,
    "flag": True,
    "off": False,
    "none": None,
    "list": [1, "a", {"k": []}, None],
    "nested": {"z": 1, "a": {"b": "c"}},
    "empty": {},
}


async def seed(db, world) -> None:
    """Events of both care teams, one with no client, one of another clinic; instants with
    and without a fraction of a second."""
    specs = [
        ("goal.created", world.client, datetime(2026, 11, 20, 8, 30, tzinfo=UTC), PAYLOAD),
        ("goal.created", world.client_other, datetime(2026, 11, 20, 8, 30, 0, 120, tzinfo=UTC), {}),
        (
            "template.created",
            None,
            datetime(2026, 11, 21, 23, 59, 59, 999999, tzinfo=UTC),
            {"a": 1},
        ),
        (
            "achievement.earned",
            world.client,
            datetime(2026, 11, 22, 0, 0, 1, 500000, tzinfo=UTC),
            {"id": "x"},
        ),
        (
            "completion.created",
            world.client_other,
            datetime(2026, 11, 23, 12, 0, tzinfo=UTC),
            PAYLOAD,
        ),
        (
            "completion.created",
            world.client,
            datetime(2026, 11, 24, 9, 15, 30, 1, tzinfo=UTC),
            {"n": [1.25]},
        ),
    ]
    for sequence, (type_, who, at, payload) in enumerate(specs, start=1):
        db.add(
            Event(
                sequence=sequence,
                type=type_,
                resource_type=type_.split(".")[0],
                resource_id=uuid.uuid4(),
                clinic_id=world.clinic.id,
                client_id=who.id if who is not None else None,
                occurred_at=at,
                payload=payload,
            )
        )
    db.add(
        Event(
            sequence=1,
            type="goal.created",
            resource_type="goal",
            resource_id=uuid.uuid4(),
            clinic_id=world.other_clinic.id,
            client_id=world.other_client.id,
            occurred_at=datetime(2026, 11, 20, tzinfo=UTC),
            payload={"other": True},
        )
    )
    await db.commit()


async def expected_page(db, world, *, after=0, limit=100, visible=None, types=None, client=None):
    """What the endpoint answered when it built `ChangePage` from `Event` entities."""
    db.expunge_all()
    events = (await db.execute(select(Event).order_by(Event.sequence))).scalars().all()
    chosen = [
        e
        for e in events
        if e.clinic_id == world.clinic.id
        and e.sequence > after
        and (visible is None or e.client_id in visible)
        and (types is None or e.type in types)
        and (client is None or e.client_id == client)
    ][:limit]
    items = [
        EventRead(
            id=e.id,
            sequence=e.sequence,
            type=e.type,
            resource_type=e.resource_type,
            resource_id=e.resource_id,
            client_id=e.client_id,
            clinic_id=e.clinic_id,
            occurred_at=e.occurred_at,
            data=e.payload,
        )
        for e in chosen
    ]
    last = items[-1].sequence if items else after
    return ChangePage(items=items, next_cursor=encode_cursor([last])).model_dump(mode="json")


async def get_page(client, world, query: str, who: str = "admin"):
    response = await client.get(f"/v1/changes?{query}", headers=world.auth(who))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    page = response.json()
    assert list(page) == ["items", "next_cursor"]
    for item in page["items"]:
        assert list(item) == list(EventRead.model_fields)  # EventRead's field order
    return page


async def test_a_page_parses_to_the_models_answer_for_the_same_events(client, world, db):
    await seed(db, world)
    page = await get_page(client, world, "limit=1000")
    assert page == await expected_page(db, world)
    assert len(page["items"]) == 6
    instants = [item["occurred_at"] for item in page["items"]]
    assert instants == [
        "2026-11-20T08:30:00Z",
        "2026-11-20T08:30:00.000120Z",
        "2026-11-21T23:59:59.999999Z",
        "2026-11-22T00:00:01.500000Z",
        "2026-11-23T12:00:00Z",
        "2026-11-24T09:15:30.000001Z",
    ]
    assert page["items"][0]["data"] == PAYLOAD
    assert page["items"][2]["client_id"] is None
    assert all(isinstance(item["sequence"], int) for item in page["items"])


async def test_pages_follow_their_cursors_to_an_empty_page_that_keeps_the_cursor(client, world, db):
    await seed(db, world)
    cursor, after, seen = None, 0, 0
    while True:
        query = "limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = await get_page(client, world, query)
        assert page == await expected_page(db, world, after=after, limit=2)
        if not page["items"]:
            assert page["next_cursor"] == cursor
            break
        seen += len(page["items"])
        after = page["items"][-1]["sequence"]
        cursor = page["next_cursor"]
    assert seen == 6


async def test_a_therapists_page_holds_only_their_clients_events(client, world, db):
    await seed(db, world)
    page = await get_page(client, world, "limit=1000", who="therapist")
    assert page == await expected_page(db, world, visible={world.client.id})
    assert {item["client_id"] for item in page["items"]} == {str(world.client.id)}
    assert len(page["items"]) == 3


async def test_type_and_client_filters_give_the_models_answer(client, world, db):
    await seed(db, world)
    page = await get_page(client, world, "types=goal.created, completion.created&limit=1000")
    assert page == await expected_page(db, world, types={"goal.created", "completion.created"})
    assert len(page["items"]) == 4
    page = await get_page(client, world, f"client_id={world.client_other.id}&limit=1")
    assert page == await expected_page(db, world, client=world.client_other.id, limit=1)
    assert page["items"][0]["data"] == {}
    page = await get_page(
        client, world, f"client_id={world.client.id}&types=achievement.earned", who="therapist"
    )
    assert page == await expected_page(
        db, world, client=world.client.id, types={"achievement.earned"}
    )
    assert [item["data"] for item in page["items"]] == [{"id": "x"}]


async def test_another_clinics_admin_gets_an_empty_page(client, world, db):
    await seed(db, world)
    page = await get_page(client, world, "limit=1000", who="other_admin")
    assert [item["data"] for item in page["items"]] == [{"other": True}]
    page = await get_page(client, world, "limit=1000", who="therapist_other")
    assert {item["client_id"] for item in page["items"]} == {str(world.client_other.id)}


async def test_concurrent_readers_each_get_the_whole_page(client, world, db, app, monkeypatch):
    import asyncio

    from app.sync import feed

    await seed(db, world)
    expected = await expected_page(db, world)
    # Fewer slots than readers: the others wait for one, none is refused or short-changed.
    monkeypatch.setattr(feed, "PAGES_AT_ONCE", 2)
    monkeypatch.delattr(app.state, "feed_page_slots", raising=False)
    inside, most = 0, 0
    build = feed._page_in_sql

    async def counted(*args):
        nonlocal inside, most
        inside += 1
        most = max(most, inside)
        try:
            await asyncio.sleep(0.01)  # let the other readers pile up
            return await build(*args)
        finally:
            inside -= 1

    monkeypatch.setattr(feed, "_page_in_sql", counted)
    pages = await asyncio.gather(*(get_page(client, world, "limit=1000") for _ in range(8)))
    assert pages == [expected] * 8
    if db.get_bind().dialect.name == "postgresql":
        assert most == 2
    monkeypatch.delattr(app.state, "feed_page_slots", raising=False)


async def test_a_cursor_beyond_any_sequence_is_a_422_not_an_error(client, world):
    from app.core.pagination import encode_cursor as make

    for value in (2**63, 10**30, -1):
        response = await client.get(
            f"/v1/changes?cursor={make([value])}", headers=world.auth("admin")
        )
        assert response.status_code == 422, (value, response.text)
    last = await get_page(client, world, f"cursor={make([2**63 - 1])}")
    assert last == {"items": [], "next_cursor": make([2**63 - 1])}
