"""Goals broken into small steps, progress, and achievements earned exactly once."""

import asyncio
from datetime import timedelta

from sqlalchemy import func, select

from app.completions.models import Achievement
from app.core.time import utcnow
from app.templates.library import get_builtin
from tests.factories import make_assignment, make_goal


async def test_a_client_sets_a_goal_for_themself_with_steps(client, world):
    response = await client.post(
        "/v1/goals",
        headers=world.auth("client"),
        json={
            "title": "Go back to the climbing gym",
            "why": "It is where I feel most like me.",
            "steps": ["Find my shoes", "Look up opening hours", "Go once with a friend"],
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["client_id"] == str(world.client.id) and body["status"] == "active"
    assert [s["position"] for s in body["steps"]] == [0, 1, 2]
    assert body["progress"] == {
        "steps_done": 0,
        "steps_total": 3,
        "step_progress": 0.0,
        "adherence_30d": None,
    }


async def test_staff_must_say_whose_goal(client, world):
    response = await client.post("/v1/goals", headers=world.auth("therapist"), json={"title": "X"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "client_id"]


async def test_a_goal_without_steps_has_null_step_progress(client, world, db):
    goal = await make_goal(db, world.therapist, world.client, steps=[])
    await db.commit()
    body = (await client.get(f"/v1/goals/{goal.id}", headers=world.auth("client"))).json()
    assert body["progress"]["step_progress"] is None


async def test_steps_reorder_by_patching_position(client, world, db):
    goal = await make_goal(db, world.therapist, world.client, steps=["a", "b", "c"])
    await db.commit()
    url = f"/v1/goals/{goal.id}"
    steps = (await client.get(url, headers=world.auth("client"))).json()["steps"]
    moved = await client.patch(
        f"{url}/steps/{steps[2]['id']}", headers=world.auth("client"), json={"position": 0}
    )
    assert moved.status_code == 200 and moved.json()["position"] == 0
    titles = [
        s["title"] for s in (await client.get(url, headers=world.auth("client"))).json()["steps"]
    ]
    assert titles == ["c", "a", "b"]
    added = await client.post(
        f"{url}/steps", headers=world.auth("client"), json={"title": "d", "position": 1}
    )
    assert added.status_code == 201
    titles = [
        s["title"] for s in (await client.get(url, headers=world.auth("client"))).json()["steps"]
    ]
    assert titles == ["c", "d", "a", "b"]
    deleted = await client.delete(f"{url}/steps/{steps[0]['id']}", headers=world.auth("client"))
    assert deleted.status_code == 204
    after = (await client.get(url, headers=world.auth("client"))).json()["steps"]
    assert [(s["title"], s["position"]) for s in after] == [("c", 0), ("d", 1), ("b", 2)]


async def test_goal_patch_honours_if_match(client, world, db):
    goal = await make_goal(db, world.therapist, world.client)
    await db.commit()
    url = f"/v1/goals/{goal.id}"
    etag = (await client.get(url, headers=world.auth("client"))).headers["etag"]
    ok = await client.patch(
        url, headers={**world.auth("client"), "If-Match": etag}, json={"why": "x"}
    )
    stale = await client.patch(
        url, headers={**world.auth("client"), "If-Match": etag}, json={"why": "y"}
    )
    assert (ok.status_code, stale.status_code) == (200, 412)


async def test_linked_assignments_feed_goal_progress(client, world, db):
    goal = await make_goal(db, world.therapist, world.client)
    await db.commit()
    start = (utcnow() - timedelta(days=3)).date().isoformat()
    created = await client.post(
        "/v1/assignments",
        headers=world.auth("therapist"),
        json={
            "client_id": str(world.client.id),
            "template_id": str(world.assignment.template_id),
            "goal_id": str(goal.id),
            "schedule": {"start_date": start, "rrule": "FREQ=DAILY"},
        },
    )
    assert created.status_code == 201 and created.json()["goal_id"] == str(goal.id)
    body = (await client.get(f"/v1/goals/{goal.id}", headers=world.auth("therapist"))).json()
    assert body["assignment_ids"] == [created.json()["id"]]
    assert body["progress"]["adherence_30d"] == 0.0  # three days over, none done
    linked = await client.get(f"/v1/assignments?goal_id={goal.id}", headers=world.auth("therapist"))
    assert [a["id"] for a in linked.json()["items"]] == [created.json()["id"]]


async def test_an_assignment_cannot_serve_another_clients_goal(client, world, db):
    goal = await make_goal(db, world.therapist_other, world.client_other)
    await db.commit()
    response = await client.patch(
        f"/v1/assignments/{world.assignment.id}",
        headers=world.auth("therapist"),
        json={"goal_id": str(goal.id)},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "goal_id"]


async def achievements(client, world):
    response = await client.get(
        f"/v1/clients/{world.client.id}/achievements", headers=world.auth("client")
    )
    assert response.status_code == 200
    return response.json()["items"]


async def test_small_wins_are_awarded_once(client, world, db):
    example = get_builtin("thought-record").realistic_example
    for _ in range(2):
        await client.post(
            f"/v1/assignments/{world.assignment.id}/completions",
            headers=world.auth("client"),
            json={"completed_at": utcnow().isoformat(), "responses": example},
        )
    types = sorted(a["type"] for a in await achievements(client, world))
    assert types == ["first_completion", "first_of_kind"]
    goal = await make_goal(db, world.therapist, world.client)
    await db.commit()
    url = f"/v1/goals/{goal.id}"
    step = (await client.get(url, headers=world.auth("client"))).json()["steps"][0]
    for done in (True, False, True):
        await client.patch(
            f"{url}/steps/{step['id']}", headers=world.auth("client"), json={"done": done}
        )
    for _ in range(2):
        await client.patch(url, headers=world.auth("client"), json={"status": "achieved"})
    earned = await achievements(client, world)
    assert sorted(a["type"] for a in earned) == [
        "first_completion",
        "first_of_kind",
        "goal_achieved",
        "goal_step_done",
    ]
    assert earned[0]["type"] == "goal_achieved"  # newest first
    assert earned[0]["title"].startswith("Goal reached")


async def test_concurrent_completions_never_award_twice(client, world, db):
    example = get_builtin("thought-record").realistic_example
    await asyncio.gather(
        *(
            client.post(
                f"/v1/assignments/{world.assignment.id}/completions",
                headers=world.auth("client"),
                json={"completed_at": utcnow().isoformat(), "responses": example},
            )
            for _ in range(10)
        )
    )
    counts = dict(
        (
            await db.execute(
                select(Achievement.key, func.count())
                .where(Achievement.client_id == world.client.id)
                .group_by(Achievement.key)
            )
        ).all()
    )
    assert counts == {"first_completion": 1, "first_of_kind:cbt_worksheet": 1}


async def test_a_streak_of_three_days_is_celebrated(client, world, db, monkeypatch):
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(world.client.timezone)
    today = utcnow().astimezone(zone).date()
    assignment = await make_assignment(
        db,
        world.therapist,
        world.client,
        schedule={"start_date": (today - timedelta(days=2)).isoformat(), "rrule": "FREQ=DAILY"},
    )
    await db.commit()
    example = get_builtin("thought-record").realistic_example
    for back in (2, 1, 0):
        day = today - timedelta(days=back)
        await client.post(
            f"/v1/assignments/{assignment.id}/completions",
            headers=world.auth("client"),
            json={
                "completed_at": utcnow().isoformat(),
                "occurrence_date": str(day),
                "responses": example,
            },
        )
        # The world's own daily assignment must be done too for a day to count.
        await client.post(
            f"/v1/assignments/{world.assignment.id}/completions",
            headers=world.auth("client"),
            json={
                "completed_at": utcnow().isoformat(),
                "occurrence_date": str(day),
                "responses": example,
            },
        )
    titles = [a["title"] for a in await achievements(client, world) if a["type"] == "streak"]
    assert titles == ["3-day streak"]


async def test_a_measure_moving_down_a_band_is_celebrated(client, world, db):
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
    from zoneinfo import ZoneInfo

    today = utcnow().astimezone(ZoneInfo(world.client.timezone)).date()
    for back, value in ((1, 2), (0, 1)):  # totals 18 (moderately severe), then 9 (mild)
        await client.post(
            f"/v1/assignments/{phq.id}/completions",
            headers=world.auth("client"),
            json={
                "completed_at": (utcnow() - timedelta(hours=back)).isoformat(),
                "occurrence_date": str(today - timedelta(days=back)),
                "responses": {f"item_{n}": value for n in range(1, 10)} | {"item_9": 0},
            },
        )
    improved = [a for a in await achievements(client, world) if a["type"] == "measure_improved"]
    assert len(improved) == 1
    assert (
        "Moderately severe" in improved[0]["title"] or "moderately" in improved[0]["title"].lower()
    )
