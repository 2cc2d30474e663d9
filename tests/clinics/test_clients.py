"""Clients: each caller sees exactly their caseload; profiles, external ids and invitations."""

import uuid
from datetime import timedelta

from sqlalchemy import select, update

from app.auth.models import Invitation
from app.core.time import utcnow


async def create_client(client, world, who="therapist", **body):
    payload = {
        "email": f"c-{uuid.uuid4().hex}@example.com",
        "display_name": "Sam Client",
        **body,
    }
    return await client.post("/v1/clients", headers=world.auth(who), json=payload)


async def ids(client, world, who, query=""):
    response = await client.get(f"/v1/clients{query}", headers=world.auth(who))
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["items"]}


async def test_each_principal_lists_exactly_the_clients_it_may_see(client, world):
    a, b, other = str(world.client.id), str(world.client_other.id), str(world.other_client.id)
    assert await ids(client, world, "admin") == {a, b}
    assert await ids(client, world, "therapist") == {a}
    assert await ids(client, world, "therapist_other") == {b}
    assert await ids(client, world, "client") == {a}
    assert await ids(client, world, "api_full") == {a, b}
    assert await ids(client, world, "other_therapist") == {other}


async def test_a_therapists_new_client_lands_on_their_care_team(client, world):
    created = await create_client(client, world, timezone="Asia/Kolkata")
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["therapist_ids"] == [str(world.therapist.id)]
    assert body["status"] == "invited"
    assert body["timezone"] == "Asia/Kolkata"
    assert created.headers["location"] == f"/v1/clients/{body['id']}"
    assert len(body["invitation"]["code"]) >= 20
    assert body["id"] in await ids(client, world, "therapist")
    assert body["id"] not in await ids(client, world, "therapist_other")


async def test_a_new_client_without_a_zone_gets_the_clinics(client, world):
    created = await create_client(client, world)
    assert created.json()["timezone"] == "Europe/Berlin"


async def test_a_client_cannot_set_server_owned_fields(client, world):
    response = await client.post(
        "/v1/clients",
        headers=world.auth("admin"),
        json={
            "email": "x@example.com",
            "display_name": "X",
            "clinic_id": str(world.other_clinic.id),
            "role": "admin",
        },
    )
    assert response.status_code == 422
    assert {tuple(e["loc"]) for e in response.json()["errors"]} == {
        ("body", "clinic_id"),
        ("body", "role"),
    }


async def test_an_email_in_use_is_a_conflict_naming_the_field(client, world):
    response = await create_client(client, world, email=world.client.email.upper())
    assert response.status_code == 409
    assert response.json()["errors"][0]["loc"] == ["body", "email"]


async def test_an_unknown_time_zone_is_a_422_naming_the_field(client, world):
    response = await create_client(client, world, timezone="Mars/Olympus_Mons")
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "timezone"]


async def test_an_ehr_finds_its_patient_by_external_id(client, world):
    created = await create_client(
        client,
        world,
        who="api_full",
        external_ids=[{"system": "urn:ehr:mrn", "value": "MRN-42"}],
    )
    assert created.status_code == 201, created.text
    found = await ids(client, world, "api_full", "?external_id=urn:ehr:mrn|MRN-42")
    assert found == {created.json()["id"]}
    assert await ids(client, world, "api_full", "?external_id=urn:ehr:mrn|MRN-43") == set()


async def test_an_external_id_is_unique_per_clinic_and_system(client, world):
    first = await create_client(client, world, external_ids=[{"system": "s", "value": "1"}])
    assert first.status_code == 201
    again = await create_client(client, world, external_ids=[{"system": "s", "value": "1"}])
    assert again.status_code == 409
    assert again.json()["errors"][0]["loc"] == ["body", "external_ids", 0]
    elsewhere = await create_client(
        client, world, who="other_admin", external_ids=[{"system": "s", "value": "1"}]
    )
    assert elsewhere.status_code == 201


async def test_a_malformed_external_id_filter_is_a_422(client, world):
    response = await client.get("/v1/clients?external_id=nobar", headers=world.auth("admin"))
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["query", "external_id"]


async def test_list_filters_by_name_and_status(client, world):
    await create_client(client, world, display_name="Robin Quill")
    found = await client.get("/v1/clients?q=quill&status=invited", headers=world.auth("admin"))
    assert [i["display_name"] for i in found.json()["items"]] == ["Robin Quill"]
    none = await client.get("/v1/clients?q=quill&status=active", headers=world.auth("admin"))
    assert none.json()["items"] == []


async def test_list_pages_with_a_cursor_and_updated_since(client, world):
    for n in range(3):
        await create_client(client, world, who="admin", email=f"page{n}@example.com")
    first = (await client.get("/v1/clients?limit=2", headers=world.auth("admin"))).json()
    second = (
        await client.get(
            f"/v1/clients?limit=2&cursor={first['next_cursor']}", headers=world.auth("admin")
        )
    ).json()
    seen = [i["id"] for i in first["items"] + second["items"]]
    assert len(seen) == len(set(seen))
    assert first["next_cursor"] and len(seen) == 4
    later = (utcnow() + timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    empty = await client.get(f"/v1/clients?updated_since={later}", headers=world.auth("admin"))
    assert empty.json()["items"] == []


async def test_patch_honours_if_match_and_bumps_the_version(client, world):
    url = f"/v1/clients/{world.client.id}"
    current = await client.get(url, headers=world.auth("therapist"))
    etag = current.headers["etag"]
    changed = await client.patch(
        url,
        headers={**world.auth("therapist"), "If-Match": etag},
        json={"display_name": "Casey R.", "external_ids": [{"system": "s", "value": "v"}]},
    )
    assert changed.status_code == 200
    assert changed.json()["version"] == current.json()["version"] + 1
    assert changed.json()["external_ids"] == [{"system": "s", "value": "v"}]
    stale = await client.patch(
        url, headers={**world.auth("therapist"), "If-Match": etag}, json={"display_name": "Nope"}
    )
    assert stale.status_code == 412


async def test_a_deactivated_client_loses_access(client, world):
    await client.patch(
        f"/v1/clients/{world.client.id}",
        headers=world.auth("admin"),
        json={"status": "deactivated"},
    )
    assert (await client.get("/v1/me", headers=world.auth("client"))).status_code == 401


async def test_an_invitation_activates_the_account_once(client, world):
    created = (await create_client(client, world)).json()
    code = created["invitation"]["code"]
    weak = await client.post("/v1/invitations/accept", json={"code": code, "password": "short"})
    assert weak.status_code == 422 and weak.json()["errors"][0]["loc"] == ["body", "password"]
    ok = await client.post(
        "/v1/invitations/accept", json={"code": code, "password": "a-long-passphrase-1"}
    )
    assert ok.status_code == 200 and ok.json()["status"] == "active"
    again = await client.post(
        "/v1/invitations/accept", json={"code": code, "password": "a-long-passphrase-1"}
    )
    assert again.status_code == 422
    login = await client.post(
        "/v1/auth/token",
        data={
            "grant_type": "password",
            "username": created["email"],
            "password": "a-long-passphrase-1",
        },
    )
    assert login.status_code == 200


async def test_the_email_cannot_be_the_password(client, world):
    created = (await create_client(client, world, email="same.as.password@example.com")).json()
    response = await client.post(
        "/v1/invitations/accept",
        json={"code": created["invitation"]["code"], "password": "Same.As.Password@example.com"},
    )
    assert response.status_code == 422


async def test_an_expired_invitation_does_not_work(client, world, db):
    created = (await create_client(client, world)).json()
    await db.execute(update(Invitation).values(expires_at=utcnow() - timedelta(seconds=1)))
    await db.commit()
    response = await client.post(
        "/v1/invitations/accept",
        json={"code": created["invitation"]["code"], "password": "a-long-passphrase-1"},
    )
    assert response.status_code == 422


async def test_reissuing_an_invitation_replaces_the_old_code(client, world):
    created = (await create_client(client, world)).json()
    reissued = await client.post(
        f"/v1/clients/{created['id']}/invitations", headers=world.auth("therapist")
    )
    assert reissued.status_code == 201
    old = await client.post(
        "/v1/invitations/accept",
        json={"code": created["invitation"]["code"], "password": "a-long-passphrase-1"},
    )
    assert old.status_code == 422
    new = await client.post(
        "/v1/invitations/accept",
        json={"code": reissued.json()["code"], "password": "a-long-passphrase-1"},
    )
    assert new.status_code == 200
    done = await client.post(
        f"/v1/clients/{created['id']}/invitations", headers=world.auth("therapist")
    )
    assert done.status_code == 409


async def test_an_address_of_another_clinic_is_added_like_a_new_one(client, world, db):
    """Nothing in the answer tells whether the person is known elsewhere, and the other
    clinic's account is neither read back nor changed."""
    other_id, email = world.other_client.id, world.other_client.email
    before = await _user_row(db, other_id)
    known = await create_client(client, world, email=email)
    fresh = await create_client(client, world)
    assert (known.status_code, fresh.status_code) == (201, 201)
    assert known.json().keys() == fresh.json().keys()
    assert known.json()["status"] == fresh.json()["status"] == "invited"
    assert known.json()["clinic_id"] == str(world.clinic.id)
    assert known.json()["id"] != str(other_id)
    assert await _user_row(db, other_id) == before


async def test_accepting_an_invitation_activates_only_that_clinics_membership(client, world, db):
    other_id, email = world.other_client.id, world.other_client.email
    before = await _user_row(db, other_id)
    created = await create_client(client, world, email=email)
    accepted = await client.post(
        "/v1/invitations/accept",
        json={"code": created.json()["invitation"]["code"], "password": "a-long-passphrase-2"},
    )
    assert accepted.status_code == 200
    assert accepted.json()["id"] == created.json()["id"]
    assert await _user_row(db, other_id) == before


async def _user_row(db, user_id):
    """The stored row as it is now (columns, not the session's cached object)."""
    from app.auth.models import User

    row = (await db.execute(select(User.__table__).where(User.id == user_id))).one()
    await db.commit()  # ends the read: a fresh snapshot next time (and nothing expires)
    return row._asdict()
