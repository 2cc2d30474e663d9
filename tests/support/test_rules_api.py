"""The clinic's support rules: defaults until an admin changes them, validated field by field."""

import pytest


async def test_a_clinic_starts_with_the_default_rules(client, world):
    answered = await client.get("/v1/support-rules", headers=world.auth("therapist"))
    assert answered.status_code == 200
    body = answered.json()
    assert body["customized"] is False and body["version"] == 0
    assert body["clinic_id"] == str(world.clinic.id)
    assert (body["missed_in_a_row"], body["hard_in_a_week"]) == (3, 2)
    assert (body["hard_skip_reasons"], body["discomfort_at_least"]) == (["too_uncomfortable"], 80)
    assert body["adherence_drop_below"] == 0.5
    assert answered.headers["ETag"] == '"0"'


async def test_an_admin_changes_only_the_fields_sent(client, world):
    first = await client.patch(
        "/v1/support-rules",
        headers=world.auth("admin"),
        json={"missed_in_a_row": 5, "adherence_drop_below": None},
    )
    assert first.status_code == 200, first.text
    assert (first.json()["missed_in_a_row"], first.json()["adherence_drop_below"]) == (5, None)
    assert first.json()["hard_in_a_week"] == 2
    assert first.json()["customized"] is True
    second = await client.patch(
        "/v1/support-rules",
        headers={**world.auth("admin"), "If-Match": first.headers["ETag"]},
        json={"hard_skip_reasons": ["too_uncomfortable", "unclear"]},
    )
    assert second.status_code == 200, second.text
    assert second.json()["missed_in_a_row"] == 5
    assert second.json()["version"] == first.json()["version"] + 1
    stale = await client.patch(
        "/v1/support-rules",
        headers={**world.auth("admin"), "If-Match": first.headers["ETag"]},
        json={"missed_in_a_row": 4},
    )
    assert stale.status_code == 412
    # The other clinic keeps the defaults.
    other = await client.get("/v1/support-rules", headers=world.auth("other_admin"))
    assert other.json()["missed_in_a_row"] == 3


async def test_a_therapist_may_not_change_the_rules(client, world):
    answered = await client.patch(
        "/v1/support-rules", headers=world.auth("therapist"), json={"missed_in_a_row": 5}
    )
    assert answered.status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"missed_in_a_row": 1}, "missed_in_a_row"),
        ({"missed_in_a_row": "3"}, "missed_in_a_row"),
        ({"hard_in_a_week": 0}, "hard_in_a_week"),
        ({"discomfort_at_least": 101}, "discomfort_at_least"),
        ({"discomfort_at_least": None}, "discomfort_at_least"),
        ({"adherence_drop_below": 1.5}, "adherence_drop_below"),
        ({"adherence_drop_below": 0}, "adherence_drop_below"),
        ({"adherence_min_previous": 0}, "adherence_min_previous"),
        ({"hard_skip_reasons": ["too_hard"]}, "hard_skip_reasons"),
        ({"hard_skip_reasons": ["no_time", "no_time"]}, "hard_skip_reasons"),
        ({"hard_skip_reasons": None}, "hard_skip_reasons"),
        ({"missed_in_row": 3}, "missed_in_row"),
    ],
)
async def test_bad_rules_are_refused_naming_the_field(client, world, body, field):
    answered = await client.patch("/v1/support-rules", headers=world.auth("admin"), json=body)
    assert answered.status_code == 422, answered.text
    problem = answered.json()
    assert problem["type"].endswith("validation-error")
    assert [e["loc"][:2] for e in problem["errors"]] == [["body", field]]
    unchanged = await client.get("/v1/support-rules", headers=world.auth("admin"))
    assert unchanged.json()["customized"] is False
