"""A token never does more than its scopes allow, on admin and care-team operations too, and a
caller can never hand out a scope its own token lacks."""

from app.auth.models import Role
from app.auth.principal import ROLE_SCOPES
from tests.factories import unique_email

ADMIN_READ_ONLY = frozenset({"homework:read"})


async def test_an_admin_token_limited_to_read_cannot_register_an_api_client(client, world):
    response = await client.post(
        "/v1/api-clients",
        headers=world.auth_with("admin", ADMIN_READ_ONLY),
        json={"name": "EHR", "scopes": ["homework:read"]},
    )
    assert response.status_code == 403
    assert "homework:write" in response.json()["detail"]


async def test_an_api_client_cannot_get_scopes_its_creators_token_lacks(client, world):
    """The escalation the review found: a token without audit:read minted an API client with
    audit:read and read the audit trail through it."""
    without_audit = ROLE_SCOPES[Role.admin] - {"audit:read"}
    response = await client.post(
        "/v1/api-clients",
        headers=world.auth_with("admin", without_audit),
        json={"name": "EHR", "scopes": ["homework:read", "audit:read"]},
    )
    assert response.status_code == 403
    problem = response.json()
    assert problem["type"].endswith("scope-not-held")
    assert problem["errors"][0]["loc"] == ["body", "scopes"]
    assert "audit:read" in problem["detail"]
    listed = await client.get("/v1/api-clients", headers=world.auth("admin"))
    assert all(c["name"] != "EHR" for c in listed.json()["items"])


async def test_an_api_client_may_get_the_scopes_its_creator_holds(client, world):
    response = await client.post(
        "/v1/api-clients",
        headers=world.auth_with("admin", frozenset({"homework:read", "homework:write"})),
        json={"name": "EHR", "scopes": ["homework:read", "homework:write"]},
    )
    assert response.status_code == 201, response.text
    assert response.json()["scopes"] == ["homework:read", "homework:write"]


async def test_a_read_only_admin_token_cannot_create_an_admin(client, world):
    response = await client.post(
        "/v1/users",
        headers=world.auth_with("admin", ADMIN_READ_ONLY),
        json={"email": unique_email(), "display_name": "Eve", "role": "admin"},
    )
    assert response.status_code == 403


async def test_a_read_only_admin_token_cannot_erase_a_client(client, world):
    response = await client.delete(
        f"/v1/clients/{world.client.id}", headers=world.auth_with("admin", ADMIN_READ_ONLY)
    )
    assert response.status_code == 403
    still_there = await client.get(f"/v1/clients/{world.client.id}", headers=world.auth("admin"))
    assert still_there.status_code == 200


async def test_a_read_only_therapist_token_cannot_change_the_care_team(client, world):
    response = await client.put(
        f"/v1/clients/{world.client.id}/care-team",
        headers=world.auth_with("therapist", ADMIN_READ_ONLY),
        json={"therapist_ids": [str(world.therapist.id), str(world.therapist_other.id)]},
    )
    assert response.status_code == 403
    team = await client.get(
        f"/v1/clients/{world.client.id}/care-team", headers=world.auth("therapist")
    )
    assert [t["id"] for t in team.json()["therapists"]] == [str(world.therapist.id)]


async def test_the_contract_lists_the_scopes_and_what_each_means(client):
    spec = (await client.get("/openapi.json")).json()
    flows = spec["components"]["securitySchemes"]["OAuth2"]["flows"]
    for flow in flows.values():
        assert set(flow["scopes"]) == {"homework:read", "homework:write", "fhir:read", "audit:read"}
        assert all(meaning for meaning in flow["scopes"].values())
    assert spec["paths"]["/v1/api-clients"]["post"]["security"] == [{"OAuth2": ["homework:write"]}]


async def test_a_stored_answer_is_replayed_only_to_a_token_that_may_make_the_request_now(
    client, world
):
    body = {"client_id": str(world.client.id), "title": "Walk daily"}
    key = {"Idempotency-Key": "goal-scope-replay"}
    first = await client.post("/v1/goals", headers={**world.auth("therapist"), **key}, json=body)
    assert first.status_code == 201
    read_only = world.auth_with("therapist", ADMIN_READ_ONLY)
    replay = await client.post("/v1/goals", headers={**read_only, **key}, json=body)
    assert replay.status_code == 403
    assert "Idempotent-Replayed" not in replay.headers
    again = await client.post("/v1/goals", headers={**world.auth("therapist"), **key}, json=body)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.content == first.content
