"""The templates API: the shared library, clinic templates and versions, dry-run validation."""

import uuid

from app.templates.library import BUILTIN_SLUGS
from app.templates.service import builtin_template_id

PHQ9 = builtin_template_id("phq-9")


def scored_template(slug: str = "mood-check") -> dict:
    return {
        "slug": slug,
        "kind": "measure",
        "title": "Mood check",
        "fields": [
            {
                "key": "low_mood",
                "type": "scale",
                "label": "Low mood",
                "min": 0,
                "max": 3,
                "min_label": "Never",
                "max_label": "Always",
                "required": True,
            },
            {
                "key": "worry",
                "type": "scale",
                "label": "Worry",
                "min": 0,
                "max": 3,
                "min_label": "Never",
                "max_label": "Always",
                "required": True,
            },
        ],
        "scoring": {
            "items": ["low_mood", "worry"],
            "bands": [
                {"min": 0, "max": 2, "label": "Low", "code": "low"},
                {"min": 3, "max": 6, "label": "High", "code": "high"},
            ],
        },
    }


async def test_every_clinic_sees_the_whole_builtin_library(client, world):
    for who in ("therapist", "other_therapist"):
        response = await client.get(
            "/v1/templates?source=builtin&limit=200", headers=world.auth(who)
        )
        assert {t["slug"] for t in response.json()["items"]} == set(BUILTIN_SLUGS)


async def test_builtin_ids_are_stable_across_installations(client, world):
    response = await client.get(f"/v1/templates/{PHQ9}", headers=world.auth("therapist"))
    assert response.status_code == 200
    body = response.json()
    assert body["slug"] == "phq-9" and body["source"] == "builtin" and body["clinic_id"] is None
    assert [f["key"] for f in body["fields"]][:9] == [f"item_{n}" for n in range(1, 10)]
    assert response.headers["etag"]


async def test_validate_scores_a_phq9_and_raises_the_risk_flag(client, world):
    answers = {f"item_{n}": 2 for n in range(1, 9)} | {"item_9": 1}
    response = await client.post(
        f"/v1/templates/{PHQ9}/validate",
        headers=world.auth("therapist"),
        json={"responses": answers},
    )
    body = response.json()
    assert body["valid"] is True and body["errors"] == []
    assert body["score"]["total"] == 17
    assert body["score"]["band"] == "moderately_severe"
    assert body["score"]["risk"] is True and body["score"]["risk_flags"] == ["self_harm"]


async def test_validate_lists_every_problem_with_its_location(client, world):
    answers = {f"item_{n}": 0 for n in range(1, 9)} | {"item_9": False, "extra": 1}
    answers.pop("item_3")
    response = await client.post(
        f"/v1/templates/{PHQ9}/validate",
        headers=world.auth("therapist"),
        json={"responses": answers},
    )
    body = response.json()
    assert body["valid"] is False and body["score"] is None
    assert sorted(tuple(e["loc"]) for e in body["errors"]) == sorted(
        [
            ("body", "responses", "item_3"),
            ("body", "responses", "item_9"),
            ("body", "responses", "extra"),
        ]
    )


async def test_a_therapist_clones_a_builtin_and_edits_it(client, world):
    response = await client.post(
        "/v1/templates",
        headers=world.auth("therapist"),
        json={
            "slug": "phq-9-short-intro",
            "based_on": str(PHQ9),
            "instructions": "Answer for the last two weeks. Take your time.",
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["source"] == "clinic" and body["based_on_id"] == str(PHQ9)
    assert body["version"] == 1 and body["kind"] == "measure"
    assert body["instructions"].startswith("Answer for the last two weeks")
    assert body["scoring"]["items"][0] == "item_1"


async def test_editing_labels_publishes_a_version_and_old_answers_still_score(client, world):
    created = (
        await client.post("/v1/templates", headers=world.auth("therapist"), json=scored_template())
    ).json()
    relabelled = [dict(f, label=f["label"] + " (past week)") for f in created["fields"]]
    published = await client.post(
        f"/v1/templates/{created['id']}/versions",
        headers=world.auth("therapist"),
        json={"fields": relabelled},
    )
    assert published.status_code == 201, published.text
    assert published.json()["version"] == 2
    assert published.headers["location"].endswith("/versions/2")
    v1 = (
        await client.get(
            f"/v1/templates/{created['id']}/versions/1", headers=world.auth("therapist")
        )
    ).json()
    assert v1["fields"][0]["label"] == "Low mood"
    answers = {"low_mood": 2, "worry": 3}
    for version in (1, 2):
        checked = (
            await client.post(
                f"/v1/templates/{created['id']}/validate",
                headers=world.auth("therapist"),
                json={"responses": answers, "version": version},
            )
        ).json()
        assert checked["valid"] and checked["version"] == version
        assert (checked["score"]["total"], checked["score"]["band"]) == (5, "high")


async def test_the_builtin_library_is_read_only(client, world):
    publish = await client.post(
        f"/v1/templates/{PHQ9}/versions", headers=world.auth("admin"), json={"title": "Mine"}
    )
    archive = await client.post(f"/v1/templates/{PHQ9}/archive", headers=world.auth("admin"))
    assert publish.status_code == archive.status_code == 403


async def test_a_template_kind_cannot_change(client, world):
    response = await client.post(
        f"/v1/templates/{world.template.id}/versions",
        headers=world.auth("therapist"),
        json={"kind": "journal"},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "kind"]


async def test_a_broken_definition_is_a_422_naming_the_field(client, world):
    body = scored_template()
    body["fields"][1]["key"] = "low_mood"
    response = await client.post("/v1/templates", headers=world.auth("therapist"), json=body)
    assert response.status_code == 422
    assert ["body", "fields", 1, "key"] in [e["loc"] for e in response.json()["errors"]]


async def test_slugs_are_unique_within_a_clinic_only(client, world):
    first = await client.post(
        "/v1/templates", headers=world.auth("therapist"), json=scored_template()
    )
    again = await client.post("/v1/templates", headers=world.auth("admin"), json=scored_template())
    elsewhere = await client.post(
        "/v1/templates", headers=world.auth("other_therapist"), json=scored_template()
    )
    assert (first.status_code, again.status_code, elsewhere.status_code) == (201, 409, 201)
    assert again.json()["errors"][0]["loc"] == ["body", "slug"]


async def test_another_clinics_template_is_not_found(client, world):
    for path in ("", "/versions/1"):
        response = await client.get(
            f"/v1/templates/{world.template.id}{path}", headers=world.auth("other_admin")
        )
        assert response.status_code == 404
    unknown = await client.get(f"/v1/templates/{uuid.uuid4()}", headers=world.auth("admin"))
    strip = lambda r: {k: v for k, v in r.json().items() if k not in ("request_id", "instance")}  # noqa: E731
    assert strip(unknown) == strip(response)


async def test_a_client_sees_only_the_templates_of_their_assignments(client, world):
    listed = (await client.get("/v1/templates", headers=world.auth("client"))).json()["items"]
    assert [t["slug"] for t in listed] == ["thought-record"]
    hidden = await client.get(f"/v1/templates/{PHQ9}", headers=world.auth("client"))
    assert hidden.status_code == 404


async def test_a_client_cannot_create_templates(client, world):
    response = await client.post(
        "/v1/templates", headers=world.auth("client"), json=scored_template()
    )
    assert response.status_code == 403


async def test_an_archived_template_cannot_be_assigned_but_is_still_readable(client, world):
    archived = await client.post(
        f"/v1/templates/{world.template.id}/archive", headers=world.auth("therapist")
    )
    assert archived.json()["status"] == "archived"
    response = await client.post(
        "/v1/assignments",
        headers=world.auth("therapist"),
        json={
            "client_id": str(world.client.id),
            "template_id": str(world.template.id),
            "schedule": {"start_date": "2026-12-01"},
        },
    )
    assert response.status_code == 409
    readable = await client.get(
        f"/v1/templates/{world.template.id}", headers=world.auth("therapist")
    )
    assert readable.status_code == 200


async def test_lists_filter_by_kind_and_title(client, world):
    response = await client.get(
        "/v1/templates?kind=mindfulness&q=BREATH", headers=world.auth("therapist")
    )
    assert [t["slug"] for t in response.json()["items"]] == ["breathing-exercise"]
