"""The caseload: a therapist's clients at a glance, sortable and paged."""

from datetime import timedelta

from app.auth.models import Role
from app.core.time import utcnow
from tests.factories import make_assignment, make_completion, make_user, put_on_care_team


async def rows(client, world, who="therapist", query=""):
    response = await client.get(f"/v1/caseload{query}", headers=world.auth(who))
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_therapist_sees_only_their_caseload_and_an_admin_the_clinic(client, world):
    mine = await rows(client, world)
    assert [r["client_id"] for r in mine["items"]] == [str(world.client.id)]
    everyone = await rows(client, world, "admin")
    assert {r["client_id"] for r in everyone["items"]} == {
        str(world.client.id),
        str(world.client_other.id),
    }
    theirs = await rows(client, world, "admin", f"?therapist_id={world.therapist_other.id}")
    assert [r["client_id"] for r in theirs["items"]] == [str(world.client_other.id)]


async def test_rows_count_open_work_and_the_latest_measure(client, world, db):
    phq = await make_assignment(
        db,
        world.therapist,
        world.client,
        slug="phq-9",
        schedule={
            "start_date": (utcnow() - timedelta(days=3)).date().isoformat(),
            "rrule": "FREQ=DAILY",
        },
    )
    await db.commit()
    worse = {f"item_{n}": 1 for n in range(1, 10)} | {"item_9": 0}  # 8: mild
    better = {f"item_{n}": 0 for n in range(1, 10)}  # 0: minimal
    from zoneinfo import ZoneInfo

    today = utcnow().astimezone(ZoneInfo(world.client.timezone)).date()
    await make_completion(
        db,
        world.client,
        phq,
        status="done",
        responses=worse,
        occurrence_date=str(today - timedelta(days=1)),
        completed_at=(utcnow() - timedelta(hours=2)).isoformat(),
    )
    await make_completion(
        db,
        world.client,
        phq,
        status="done",
        responses=better,
        occurrence_date=str(today),
        wants_to_discuss=True,
    )
    await make_completion(db, world.client, world.assignment)
    await db.commit()
    (row,) = (await rows(client, world))["items"]
    assert (row["unreviewed"], row["open_discuss"], row["open_risk"]) == (3, 1, 0)
    assert row["latest_band"] == "minimal" and row["band_direction"] == "improving"
    assert row["latest_measure"] and row["last_completion_at"]
    assert row["adherence_7d"] is not None


async def test_sorting_and_paging_walk_every_row_once(client, world, db):
    for n in range(5):
        extra = await make_user(db, world.clinic, Role.client, name=f"Client {n}")
        await put_on_care_team(db, world.therapist, extra)
        if n % 2:
            await make_completion(db, extra, await make_assignment(db, world.therapist, extra))
    await db.commit()
    seen, cursor = [], None
    while True:
        query = "?sort=unreviewed&descending=true&limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = await rows(client, world, query=query)
        seen += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 6 and len({r["client_id"] for r in seen}) == 6
    assert [r["unreviewed"] for r in seen] == sorted((r["unreviewed"] for r in seen), reverse=True)
    by_name = (await rows(client, world, query="?sort=name&limit=200"))["items"]
    assert [r["display_name"] for r in by_name] == sorted(r["display_name"] for r in by_name)


async def test_clients_cannot_see_a_caseload(client, world):
    response = await client.get("/v1/caseload", headers=world.auth("client"))
    assert response.status_code == 403
