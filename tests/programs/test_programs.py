"""Programs: the built-in ones, clinic programs created, cloned and versioned, and the rules a
program's steps must fit."""

import uuid

from app.programs.library import builtin_program_id
from app.templates.service import builtin_template_id
from tests.programs.conftest import AFTER, IMMEDIATELY, enrol, make_program, step

LOW_MOOD = builtin_program_id("low-mood-six-weeks")
MINDFULNESS = builtin_program_id("mindfulness-four-weeks")


async def test_built_in_programs_have_stable_ids_and_real_content(client, world):
    listed = await client.get("/v1/programs", headers=world.auth("therapist"))
    assert listed.status_code == 200
    ids = {p["id"] for p in listed.json()["items"]}
    assert {str(LOW_MOOD), str(MINDFULNESS)} <= ids
    # The same in every installation: integrations may hard-code them.
    assert uuid.UUID("f5977180-ae1b-5074-a878-f031c842dbce") == LOW_MOOD
    assert uuid.UUID("4391edf1-26e2-5d79-9d91-b29edfb856fe") == MINDFULNESS
    low = (await client.get(f"/v1/programs/{LOW_MOOD}", headers=world.auth("therapist"))).json()
    assert low["title"] == "Low mood, six weeks" and low["source"] == "builtin"
    assert [s["template_id"] for s in low["steps"]] == [
        str(builtin_template_id(slug))
        for slug in (
            "activity-log",
            "thought-record",
            "cognitive-distortions",
            "gratitude-journal",
            "reflective-journal",
        )
    ]
    assert low["steps"][4]["title"] == "Relapse-prevention journal"
    assert all(s["template_version"] >= 1 for s in low["steps"])
    mind = (await client.get(f"/v1/programs/{MINDFULNESS}", headers=world.auth("admin"))).json()
    assert [s["template_id"] for s in mind["steps"]] == [
        str(builtin_template_id(slug))
        for slug in ("breathing-exercise", "body-scan", "mindfulness-practice")
    ]
    assert [s["release"]["type"] for s in mind["steps"]] == [
        "immediately",
        "on_enrolment_day",
        "on_enrolment_day",
    ]


async def test_a_clinic_program_is_created_and_a_new_version_published_on_edit(client, world):
    program = await make_program(client, world, [step(IMMEDIATELY), step(AFTER)])
    assert program["version"] == 1 and program["clinic_id"] == str(world.clinic.id)
    assert program["steps"][0]["title"] == "Thought record"  # the template's title
    assert program["steps"][0]["completed_when"] == {"type": "last_occurrence"}
    url = f"/v1/programs/{program['id']}"
    edited = await client.patch(
        url,
        headers=world.auth("therapist") | {"If-Match": '"1"'},
        json={"title": "P, revised", "steps": [step(IMMEDIATELY, instructions="Short ones.")]},
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["version"] == 2 and len(edited.json()["steps"]) == 1
    assert edited.headers["etag"] == '"2"'
    stale = await client.patch(
        url, headers=world.auth("therapist") | {"If-Match": '"1"'}, json={"title": "x"}
    )
    assert stale.status_code == 412
    same = await client.patch(url, headers=world.auth("admin"), json={"title": "P, revised"})
    assert same.json()["version"] == 2  # nothing changed: no new version
    first = await client.get(f"{url}/versions/1", headers=world.auth("therapist"))
    assert first.status_code == 200 and len(first.json()["steps"]) == 2
    assert first.json()["title"] == "P"


async def test_a_built_in_program_is_cloned_not_edited(client, world):
    refused = await client.patch(
        f"/v1/programs/{LOW_MOOD}", headers=world.auth("admin"), json={"title": "Mine"}
    )
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("program-read-only")
    cloned = await client.post(
        "/v1/programs",
        headers=world.auth("therapist"),
        json={"slug": "our-low-mood", "based_on": str(LOW_MOOD), "title": "Our low mood"},
    )
    assert cloned.status_code == 201, cloned.text
    body = cloned.json()
    assert body["based_on_id"] == str(LOW_MOOD) and body["source"] == "clinic"
    assert body["title"] == "Our low mood" and len(body["steps"]) == 5
    assert cloned.headers["location"] == f"/v1/programs/{body['id']}"
    again = await client.post(
        "/v1/programs",
        headers=world.auth("admin"),
        json={"slug": "our-low-mood", "based_on": str(LOW_MOOD)},
    )
    assert again.status_code == 409


async def test_another_clinics_program_is_not_found(client, world):
    program = await make_program(client, world, [step(IMMEDIATELY)])
    for method, path, body in (
        ("GET", f"/v1/programs/{program['id']}", None),
        ("PATCH", f"/v1/programs/{program['id']}", {"title": "x"}),
        (
            "POST",
            f"/v1/programs/{program['id']}/enrolments",
            {"client_id": str(world.other_client.id)},
        ),
    ):
        response = await client.request(method, path, headers=world.auth("other_admin"), json=body)
        assert response.status_code == 404, (method, path)
    listed = await client.get("/v1/programs", headers=world.auth("other_therapist"))
    assert program["id"] not in {p["id"] for p in listed.json()["items"]}


async def test_a_client_sees_only_the_programs_they_are_enrolled_in(client, world):
    program = await make_program(client, world, [step(IMMEDIATELY)])
    url = f"/v1/programs/{program['id']}"
    assert (await client.get(url, headers=world.auth("client"))).status_code == 404
    assert (await client.get("/v1/programs", headers=world.auth("client"))).json()["items"] == []
    await enrol(client, world, program["id"])
    listed = await client.get("/v1/programs", headers=world.auth("client"))
    assert [p["id"] for p in listed.json()["items"]] == [program["id"]]
    assert (await client.get(url, headers=world.auth("client"))).status_code == 200
    assert (await client.get(url, headers=world.auth("client_other"))).status_code == 404
    edit = await client.patch(url, headers=world.auth("client"), json={"title": "Mine"})
    assert edit.status_code == 403


async def test_steps_that_cannot_work_are_refused_with_their_location(client, world):
    async def refused(steps):
        response = await client.post(
            "/v1/programs",
            headers=world.auth("therapist"),
            json={"slug": "bad", "title": "Bad", "steps": steps},
        )
        assert response.status_code == 422, response.text
        return [(e["loc"], e["type"]) for e in response.json()["errors"]]

    assert (["body", "steps", 0, "release", "type"], "no_previous") in await refused([step(AFTER)])
    open_ended = step(IMMEDIATELY, schedule={"rrule": "FREQ=DAILY"})
    assert (["body", "steps", 0, "completed_when"], "open_ended") in await refused([open_ended])
    assert (["body", "steps"], "all_optional") in await refused([step(IMMEDIATELY, optional=True)])
    last_ends = step(IMMEDIATELY, ends_when_next_starts=True)
    assert (["body", "steps", 0, "ends_when_next_starts"], "no_next") in await refused([last_ends])
    bad_rule = step(IMMEDIATELY, schedule={"rrule": "FREQ=HOURLY", "days": 3})
    assert (["body", "steps", 0, "schedule", "rrule"], "rrule_unsupported") in await refused(
        [bad_rule]
    )
    two_bounds = step(IMMEDIATELY, schedule={"rrule": "FREQ=DAILY", "days": 3, "count": 2})
    assert ["body", "steps", 0, "schedule", "count"] in [
        loc for loc, _ in await refused([two_bounds])
    ]
    unknown_rule = step({"type": "when_i_feel_like_it"})
    assert await refused([unknown_rule])
    # Another clinic's template is not found from here.
    other = await client.post(
        "/v1/templates",
        headers=world.auth("other_admin"),
        json={"slug": "theirs", "based_on": str(builtin_template_id("gad-7"))},
    )
    theirs = step(IMMEDIATELY) | {"template_id": other.json()["id"]}
    assert (["body", "steps", 0, "template_id"], "not_found") in await refused([theirs])
    missing_version = step(IMMEDIATELY, template_version=99)
    assert (["body", "steps", 0, "template_version"], "not_found") in await refused(
        [missing_version]
    )


async def test_a_new_program_needs_a_title_and_steps(client, world):
    response = await client.post(
        "/v1/programs", headers=world.auth("therapist"), json={"slug": "empty"}
    )
    assert response.status_code == 422
    assert sorted(e["loc"][-1] for e in response.json()["errors"]) == ["steps", "title"]
