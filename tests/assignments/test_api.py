"""The assignments API: creating, changing and ending homework; the status lifecycle."""

from datetime import UTC, date, datetime, timedelta

from app.templates.service import builtin_template_id

BREATHING = str(builtin_template_id("breathing-exercise"))


def assignment(world, **changes) -> dict:
    body = {
        "client_id": str(world.client.id),
        "template_id": BREATHING,
        "schedule": {
            "start_date": "2027-01-04",
            "rrule": "FREQ=WEEKLY;BYDAY=MO,WE,FR",
            "times": ["08:00"],
        },
        "reminders": {"minutes_before": [30, 0]},
    }
    body.update(changes)
    return body


async def create(client, world, who="therapist", **changes):
    return await client.post(
        "/v1/assignments", headers=world.auth(who), json=assignment(world, **changes)
    )


async def test_an_assignment_takes_its_defaults_from_template_and_client(client, world):
    response = await create(client, world)
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"/v1/assignments/{body['id']}"
    assert body["title"] == "Breathing exercise" or body["title"]
    assert body["template_kind"] == "mindfulness" and body["template_version"] == 1
    assert body["schedule"]["timezone"] == "America/New_York"  # the client's zone
    assert body["status"] == "active" and body["created_by_id"] == str(world.therapist.id)
    # Monday 2027-01-04 08:00 in New York is 13:00 UTC; the first reminder 30 minutes earlier.
    assert body["next_occurrence_at"] == "2027-01-04T13:00:00Z"
    assert body["next_reminder_at"] == "2027-01-04T12:30:00Z"


async def test_tailoring_overrides_title_minutes_and_zone(client, world):
    response = await create(
        client,
        world,
        title="Box breathing before work",
        estimated_minutes=4,
        instructions="Four counts in, hold, out, hold.",
        schedule={"start_date": "2027-01-04", "times": ["07:30"], "timezone": "Europe/Berlin"},
    )
    body = response.json()
    assert (body["title"], body["estimated_minutes"]) == ("Box breathing before work", 4)
    assert body["schedule"]["timezone"] == "Europe/Berlin"
    assert body["next_occurrence_at"] == "2027-01-04T06:30:00Z"


async def test_an_unsupported_rule_is_a_422_naming_the_part(client, world):
    response = await create(
        client, world, schedule={"start_date": "2027-01-04", "rrule": "FREQ=DAILY;BYHOUR=8"}
    )
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["loc"] == ["body", "schedule", "rrule"]
    assert "BYHOUR" in error["msg"]


async def test_bad_times_zones_and_dates_are_422s_naming_the_field(client, world):
    cases = {
        ("body", "schedule", "times", 0): {"start_date": "2027-01-04", "times": ["25:00"]},
        ("body", "schedule", "timezone"): {"start_date": "2027-01-04", "timezone": "Mars/Base"},
        ("body", "schedule", "end_date"): {"start_date": "2027-01-04", "end_date": "2027-01-01"},
        ("body", "schedule", "count"): {
            "start_date": "2027-01-04",
            "rrule": "FREQ=DAILY",
            "count": 1001,
        },
    }
    for loc, schedule in cases.items():
        response = await create(client, world, schedule=schedule)
        assert response.status_code == 422, schedule
        assert tuple(response.json()["errors"][0]["loc"]) == loc


async def test_a_missing_template_version_is_a_422(client, world):
    response = await create(client, world, template_version=7)
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "template_version"]


async def test_a_client_reads_but_cannot_change_their_assignments(client, world):
    url = f"/v1/assignments/{world.assignment.id}"
    assert (await client.get(url, headers=world.auth("client"))).status_code == 200
    response = await client.patch(url, headers=world.auth("client"), json={"instructions": "x"})
    assert response.status_code == 403


async def test_a_client_lists_only_their_own(client, world):
    await create(client, world, client_id=str(world.client_other.id), who="therapist_other")
    mine = (await client.get("/v1/assignments", headers=world.auth("client"))).json()["items"]
    assert {a["client_id"] for a in mine} == {str(world.client.id)}
    all_ = (await client.get("/v1/assignments", headers=world.auth("admin"))).json()["items"]
    assert len(all_) == 2


async def test_lists_filter_by_client_status_and_template(client, world):
    created = (await create(client, world)).json()
    url = f"/v1/assignments?client_id={world.client.id}&template_id={BREATHING}&status=active"
    found = (await client.get(url, headers=world.auth("therapist"))).json()["items"]
    assert [a["id"] for a in found] == [created["id"]]


async def test_patch_honours_if_match(client, world):
    url = f"/v1/assignments/{world.assignment.id}"
    etag = (await client.get(url, headers=world.auth("therapist"))).headers["etag"]
    ok = await client.patch(
        url,
        headers={**world.auth("therapist"), "If-Match": etag},
        json={"instructions": "Evenings"},
    )
    assert ok.status_code == 200 and ok.headers["etag"] != etag
    stale = await client.patch(
        url,
        headers={**world.auth("therapist"), "If-Match": etag},
        json={"instructions": "Mornings"},
    )
    assert stale.status_code == 412


async def test_the_status_lifecycle(client, world):
    url = f"/v1/assignments/{world.assignment.id}"
    headers = world.auth("therapist")

    async def move(status):
        return await client.patch(url, headers=headers, json={"status": status})

    assert (await move("paused")).json()["status"] == "paused"
    paused = (await client.get(url, headers=headers)).json()
    assert paused["next_occurrence_at"] is None
    assert (await move("active")).json()["status"] == "active"
    assert (await move("completed")).json()["status"] == "completed"
    refused = await move("active")
    assert refused.status_code == 409
    assert refused.json()["errors"][0]["loc"] == ["body", "status"]
    assert (await client.delete(url, headers=headers)).status_code == 409


async def test_delete_cancels_and_keeps_the_history(client, world):
    url = f"/v1/assignments/{world.assignment.id}"
    assert (await client.delete(url, headers=world.auth("therapist"))).status_code == 204
    kept = await client.get(url, headers=world.auth("therapist"))
    assert kept.status_code == 200 and kept.json()["status"] == "cancelled"
    change = await client.patch(url, headers=world.auth("therapist"), json={"title": "Again"})
    assert change.status_code == 409


async def test_a_changed_schedule_applies_from_now_on(client, world):
    start = (datetime.now(UTC) - timedelta(days=10)).date()
    created = (
        await create(
            client, world, schedule={"start_date": start.isoformat(), "rrule": "FREQ=DAILY"}
        )
    ).json()
    changed = await client.patch(
        f"/v1/assignments/{created['id']}",
        headers=world.auth("therapist"),
        json={"schedule": {"start_date": start.isoformat(), "rrule": "FREQ=WEEKLY;BYDAY=SU"}},
    )
    assert changed.status_code == 200
    assert changed.json()["schedule"]["rrule"] == "FREQ=WEEKLY;BYDAY=SU"
    agenda = (
        await client.get(
            f"/v1/clients/{world.client.id}/agenda?from={start}&to={start + timedelta(days=20)}",
            headers=world.auth("therapist"),
        )
    ).json()
    mine = [i for i in agenda["items"] if i["assignment_id"] == created["id"]]
    past = [i for i in mine if i["status"] == "missed"]
    future = [i for i in mine if i["status"] == "upcoming"]
    assert len(past) >= 9  # the daily past is kept
    assert future and all(date.fromisoformat(i["local_date"]).weekday() == 6 for i in future)
