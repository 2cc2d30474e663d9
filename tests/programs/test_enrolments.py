"""Enrolments: what enrolling releases, what the client sees, pausing and ending, skipping an
optional step, and who may do what."""

from datetime import timedelta

from app.programs.library import builtin_program_id
from tests.programs.conftest import (
    AFTER,
    IMMEDIATELY,
    complete,
    count_events,
    enrol,
    get_enrolment,
    local_today,
    make_program,
    midnight,
    states,
    step,
    step_assignments,
    worker,
)

COUNT_1 = {"type": "completions", "count": 1}


async def test_enrolling_releases_the_first_steps_only(client, world, db):
    low_mood = builtin_program_id("low-mood-six-weeks")
    enrolment = await enrol(client, world, low_mood)
    assert enrolment["program_version"] == 1 and enrolment["title"] == "Low mood, six weeks"
    assert states(enrolment) == ["released", "locked", "locked", "locked", "locked"]
    assert enrolment["timezone"] == world.client.timezone
    assert enrolment["started_on"] == local_today(world.client.timezone).isoformat()
    nxt = enrolment["next_release"]
    assert nxt["position"] == 2 and nxt["releases_at"] is None
    assert "step 1 completed" in nxt["waiting_for"] and "5 done completions" in nxt["waiting_for"]
    day_36 = enrolment["steps"][4]["releases_at"]
    start = local_today(world.client.timezone)
    assert day_36 == midnight(
        start + timedelta(days=35), world.client.timezone
    ).isoformat().replace("+00:00", "Z")
    (assignment,) = await step_assignments(db, enrolment["id"])
    assert str(assignment.id) == enrolment["steps"][0]["assignment_id"]
    assert assignment.title == "Activity log" and assignment.schedule["times"] == ["20:00"]
    assert assignment.first_date == start and assignment.last_date == start + timedelta(days=6)
    # The client's agenda and assignments show the released step, never the locked ones.
    mine = await client.get("/v1/assignments", headers=world.auth("client"))
    assert enrolment["steps"][0]["assignment_id"] in {a["id"] for a in mine.json()["items"]}
    assert len(mine.json()["items"]) == 2  # the world's own assignment and step 1
    week = f"from={start}&to={start + timedelta(days=6)}"
    agenda = await client.get(f"/v1/me/agenda?{week}", headers=world.auth("client"))
    assert agenda.status_code == 200, agenda.text
    titles = {o["title"] for o in agenda.json()["items"]}
    assert "Activity log" in titles and "Thought record" in titles  # the world's own
    assert not titles & {"Cognitive distortions", "Gratitude journal"}
    assert await count_events(db, "enrolment.created") == 1
    assert await count_events(db, "program.step_released") == 1


async def test_the_client_reads_their_own_enrolment_but_not_anothers(client, world):
    program = await make_program(client, world, [step(IMMEDIATELY)])
    enrolment = await enrol(client, world, program["id"])
    own = await get_enrolment(client, world, enrolment["id"], who="client")
    assert own["id"] == enrolment["id"]
    for who in ("client_other", "therapist_other", "other_admin", "other_client"):
        response = await client.get(f"/v1/enrolments/{enrolment['id']}", headers=world.auth(who))
        assert response.status_code == 404, who
    listed = await client.get("/v1/enrolments", headers=world.auth("client_other"))
    assert listed.json()["items"] == []
    listed = await client.get(
        f"/v1/enrolments?program_id={program['id']}", headers=world.auth("admin")
    )
    assert [e["id"] for e in listed.json()["items"]] == [enrolment["id"]]


async def test_a_therapist_enrols_only_clients_on_their_care_team(client, world):
    program = await make_program(client, world, [step(IMMEDIATELY)], who="therapist_other")
    refused = await client.post(
        f"/v1/programs/{program['id']}/enrolments",
        headers=world.auth("therapist_other"),
        json={"client_id": str(world.client.id)},
    )
    assert refused.status_code == 404
    by_client = await client.post(
        f"/v1/programs/{program['id']}/enrolments",
        headers=world.auth("client"),
        json={"client_id": str(world.client.id)},
    )
    assert by_client.status_code == 403


async def test_an_idempotency_key_replays_the_enrolment(client, world, db):
    program = await make_program(client, world, [step(IMMEDIATELY)])
    headers = world.auth("therapist") | {"Idempotency-Key": "enrol-jo-once"}
    url = f"/v1/programs/{program['id']}/enrolments"
    body = {"client_id": str(world.client.id)}
    first = await client.post(url, headers=headers, json=body)
    again = await client.post(url, headers=headers, json=body)
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert await count_events(db, "enrolment.created") == 1
    assert len(await step_assignments(db, first.json()["id"])) == 1


async def test_a_start_in_the_past_is_refused_and_a_later_one_waits(client, world, app, db):
    program = await make_program(client, world, [step(IMMEDIATELY)])
    today = local_today(world.client.timezone)
    past = await client.post(
        f"/v1/programs/{program['id']}/enrolments",
        headers=world.auth("therapist"),
        json={"client_id": str(world.client.id), "start_date": str(today - timedelta(days=1))},
    )
    assert past.status_code == 422 and past.json()["errors"][0]["loc"] == ["body", "start_date"]
    start = today + timedelta(days=2)
    enrolment = await enrol(client, world, program["id"], start_date=start.isoformat())
    assert states(enrolment) == ["locked"]
    due = midnight(start, world.client.timezone)
    assert await worker(app, now=due - timedelta(seconds=1)) == 0
    assert await worker(app, now=due) == 1
    (assignment,) = await step_assignments(db, enrolment["id"])
    assert assignment.first_date == start


async def test_pausing_and_ending_an_enrolment_move_its_assignments(client, world, db):
    program = await make_program(
        client, world, [step(IMMEDIATELY, completed_when=COUNT_1), step(AFTER)]
    )
    enrolment = await enrol(client, world, program["id"])
    url = f"/v1/enrolments/{enrolment['id']}"
    paused = await client.patch(url, headers=world.auth("therapist"), json={"status": "paused"})
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    assert [a.status for a in await step_assignments(db, enrolment["id"])] == ["paused"]
    assignment_id = enrolment["steps"][0]["assignment_id"]
    blocked = await client.post(
        f"/v1/assignments/{assignment_id}/completions",
        headers=world.auth("client"),
        json={
            "completed_at": paused.json()["updated_at"],
            "status": "skipped",
            "skip_reason": "forgot",
        },
    )
    assert blocked.status_code == 409
    resumed = await client.patch(url, headers=world.auth("therapist"), json={"status": "active"})
    assert resumed.json()["status"] == "active"
    assert [a.status for a in await step_assignments(db, enrolment["id"])] == ["active"]
    await complete(client, world, assignment_id)
    ended = await client.patch(url, headers=world.auth("admin"), json={"status": "ended"})
    assert ended.json()["status"] == "ended" and ended.json()["ended_at"]
    # Step 1 was completed (its assignment stays as it is); step 2's is cancelled.
    assert [a.status for a in await step_assignments(db, enrolment["id"])] == [
        "active",
        "cancelled",
    ]
    again = await client.patch(url, headers=world.auth("therapist"), json={"status": "active"})
    assert again.status_code == 409
    by_client = await client.patch(url, headers=world.auth("client"), json={"status": "paused"})
    assert by_client.status_code == 403
    completed = await client.patch(url, headers=world.auth("admin"), json={"status": "completed"})
    assert completed.status_code == 422


async def test_an_optional_step_can_be_skipped_and_the_next_follows(client, world, db):
    program = await make_program(
        client,
        world,
        [
            step(IMMEDIATELY, completed_when=COUNT_1),
            step(AFTER, optional=True),
            step(AFTER, completed_when=COUNT_1),
        ],
    )
    enrolment = await enrol(client, world, program["id"])
    url = f"/v1/enrolments/{enrolment['id']}/steps"
    required = await client.post(f"{url}/1/skip", headers=world.auth("therapist"))
    assert required.status_code == 409
    skipped = await client.post(f"{url}/2/skip", headers=world.auth("therapist"))
    assert skipped.status_code == 200, skipped.text
    assert states(skipped.json()) == ["released", "skipped", "locked"]
    twice = await client.post(f"{url}/2/skip", headers=world.auth("therapist"))
    assert twice.status_code == 409
    # Step 1 completed: step 3 follows the skipped step 2 at once.
    await complete(client, world, enrolment["steps"][0]["assignment_id"])
    after = await get_enrolment(client, world, enrolment["id"])
    assert states(after) == ["completed", "skipped", "released"]
    await complete(client, world, after["steps"][2]["assignment_id"])
    done = await get_enrolment(client, world, enrolment["id"])
    assert done["status"] == "completed" and done["completed_at"] and done["next_release"] is None
    assert await count_events(db, "enrolment.completed") == 1
    missing = await client.post(f"{url}/9/skip", headers=world.auth("therapist"))
    assert missing.status_code == 422


async def test_erasing_the_client_erases_their_enrolments(client, world, db):
    from sqlalchemy import func, select

    from app.programs.models import Enrolment, EnrolmentStep

    program = await make_program(client, world, [step(IMMEDIATELY)])
    await enrol(client, world, program["id"])
    erased = await client.delete(f"/v1/clients/{world.client.id}", headers=world.auth("admin"))
    assert erased.status_code == 204
    await db.rollback()
    for table in (Enrolment, EnrolmentStep):
        assert await db.scalar(select(func.count()).select_from(table)) == 0
    # The clinic's program stays: it is the clinic's, not the client's.
    kept = await client.get(f"/v1/programs/{program['id']}", headers=world.auth("admin"))
    assert kept.status_code == 200
