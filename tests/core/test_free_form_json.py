"""Free-form JSON (answers keyed by field) is bounded in depth and size wherever it is accepted,
and a body nested too deep to parse is a 400: a problem naming the cause, never a 500."""

import json

import pytest

from app.core.time import utcnow
from app.core.types import MAX_JSON_DEPTH


def nested(depth: int) -> dict:
    """An object `depth` levels deep, the outermost counted."""
    value: dict = {"a": "x"}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def completion(responses: dict) -> dict:
    return {"completed_at": utcnow().isoformat(), "status": "done", "responses": responses}


def errors_of(response) -> list[tuple[list, str]]:
    return [(e["loc"], e["type"]) for e in response.json()["errors"]]


async def test_answers_nested_deeper_than_the_bound_are_a_422_naming_the_field(client, world):
    url = f"/v1/assignments/{world.assignment.id}/completions"
    headers = world.auth("client")
    deep = await client.post(url, headers=headers, json=completion(nested(MAX_JSON_DEPTH + 1)))
    assert deep.status_code == 422, deep.text
    assert errors_of(deep) == [(["body", "responses"], "json_too_deep")]
    # At the bound the answers are read, and checked against the template as usual.
    at_bound = await client.post(url, headers=headers, json=completion(nested(MAX_JSON_DEPTH)))
    assert at_bound.status_code == 422
    assert "json_too_deep" not in at_bound.text


async def test_answers_with_too_many_values_are_a_422_naming_the_field(client, world):
    response = await client.post(
        f"/v1/assignments/{world.assignment.id}/completions",
        headers=world.auth("client"),
        json=completion({"situation": list(range(20_000))}),
    )
    assert response.status_code == 422
    assert errors_of(response) == [(["body", "responses"], "json_too_large")]


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
async def test_answers_with_a_number_json_does_not_have_are_a_422_naming_the_field(
    client, world, number
):
    """Python's JSON parser reads NaN and Infinity (and 1e400 as infinity); free-form JSON
    refuses them wherever it is accepted, before any template or column sees them."""
    body = json.dumps(completion({"situation": "x"})).replace('"x"', number)
    response = await client.post(
        f"/v1/assignments/{world.assignment.id}/completions",
        headers={**world.auth("client"), "Content-Type": "application/json"},
        content=body,
    )
    assert response.status_code == 422, response.text
    assert errors_of(response) == [(["body", "responses"], "json_not_finite")]


@pytest.mark.parametrize(
    ("method", "path", "who"),
    [
        ("PATCH", "/v1/completions/{completion}", "client"),
        ("POST", "/v1/templates/{template}/validate", "therapist"),
    ],
    ids=["updateCompletion", "validateResponses"],
)
async def test_every_free_form_answer_field_is_bounded(client, world, method, path, who):
    created = await client.post(
        f"/v1/assignments/{world.assignment.id}/completions",
        headers=world.auth("client"),
        json={"completed_at": utcnow().isoformat(), "status": "skipped", "skip_reason": "other"},
    )
    url = path.format(completion=created.json()["id"], template=world.assignment.template_id)
    response = await client.request(
        method, url, headers=world.auth(who), json={"responses": nested(500)}
    )
    assert response.status_code == 422, response.text
    assert errors_of(response) == [(["body", "responses"], "json_too_deep")]


@pytest.mark.parametrize("depth", [2_000, 100_000])
async def test_a_body_nested_too_deep_to_parse_is_a_400_problem(client, world, depth):
    body = '{"responses": ' + '{"a": ' * depth + "1" + "}" * depth + "}"
    response = await client.post(
        f"/v1/assignments/{world.assignment.id}/completions",
        headers={**world.auth("client"), "Content-Type": "application/json"},
        content=body,
    )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert json.loads(response.text)["request_id"]
