"""Admins manage their clinic's staff and API clients; nobody else's."""


async def test_an_admin_creates_a_therapist_with_an_invitation(client, world):
    response = await client.post(
        "/v1/users",
        headers=world.auth("admin"),
        json={"email": "new.therapist@example.com", "display_name": "Dr New", "role": "therapist"},
    )
    assert response.status_code == 201
    body = response.json()
    assert body["role"] == "therapist" and body["status"] == "invited"
    assert body["clinic_id"] == str(world.clinic.id)
    assert body["invitation"]["code"]


async def test_staff_creation_cannot_make_clients_or_pick_a_clinic(client, world):
    response = await client.post(
        "/v1/users",
        headers=world.auth("admin"),
        json={"email": "x@example.com", "display_name": "X", "role": "client"},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "role"]


async def test_the_staff_list_holds_only_this_clinics_staff(client, world):
    listed = (await client.get("/v1/users", headers=world.auth("admin"))).json()["items"]
    assert {u["id"] for u in listed} == {
        str(world.admin.id),
        str(world.therapist.id),
        str(world.therapist_other.id),
    }
    therapists = (await client.get("/v1/users?role=therapist", headers=world.auth("admin"))).json()
    assert {u["role"] for u in therapists["items"]} == {"therapist"}


async def test_an_api_client_secret_is_shown_once_and_works(client, world):
    created = await client.post(
        "/v1/api-clients",
        headers=world.auth("admin"),
        json={"name": "Clinic EHR", "scopes": ["fhir:read", "homework:read"]},
    )
    assert created.status_code == 201
    body = created.json()
    secret = body["client_secret"]
    listed = await client.get("/v1/api-clients", headers=world.auth("admin"))
    assert secret not in listed.text
    token = await client.post(
        "/v1/auth/token",
        data={"grant_type": "client_credentials", "client_id": body["id"], "client_secret": secret},
    )
    assert token.status_code == 200
    assert token.json()["scope"] == "fhir:read homework:read"


async def test_unknown_scopes_are_rejected(client, world):
    response = await client.post(
        "/v1/api-clients", headers=world.auth("admin"), json={"name": "X", "scopes": ["root"]}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "scopes", 0]


async def test_an_api_client_without_the_scope_is_forbidden(client, world):
    response = await client.get("/v1/clients", headers=world.auth("api_none"))
    assert response.status_code == 403
    assert "homework:read" in response.json()["detail"]


async def test_me_changes_the_time_zone_with_etag(client, world):
    me = await client.get("/v1/me", headers=world.auth("client"))
    changed = await client.patch(
        "/v1/me",
        headers={**world.auth("client"), "If-Match": me.headers["etag"]},
        json={"timezone": "Pacific/Auckland"},
    )
    assert changed.status_code == 200
    assert changed.json()["timezone"] == "Pacific/Auckland"
    assert changed.headers["etag"] == f'"{me.json()["version"] + 1}"'
    stale = await client.patch(
        "/v1/me",
        headers={**world.auth("client"), "If-Match": me.headers["etag"]},
        json={"display_name": "x"},
    )
    assert stale.status_code == 412
