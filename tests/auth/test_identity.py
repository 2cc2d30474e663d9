"""One person, several clinics: each membership is its own account, and login finds the right one."""

from sqlalchemy import select

from app.auth.models import Role, User
from tests.factories import PASSWORD, make_user

OTHER_PASSWORD = "another-long-passphrase"


async def login(client, email, password=PASSWORD, **extra):
    return await client.post(
        "/v1/auth/token",
        data={"grant_type": "password", "username": email, "password": password, **extra},
    )


async def me(client, token):
    response = await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return response.json()


async def join_clinic_a(client, world, email, password):
    """Clinic A's therapist adds the address as a client; the person accepts the invitation."""
    created = await client.post(
        "/v1/clients",
        headers=world.auth("therapist"),
        json={"email": email, "display_name": "Pat Twoclinics"},
    )
    assert created.status_code == 201, created.text
    accepted = await client.post(
        "/v1/invitations/accept",
        json={"code": created.json()["invitation"]["code"], "password": password},
    )
    assert accepted.status_code == 200, accepted.text
    return created.json()["id"]


async def test_each_clinic_is_reached_with_its_own_password(client, world):
    email = world.other_client.email  # a client of clinic B, with PASSWORD
    in_a = await join_clinic_a(client, world, email, OTHER_PASSWORD)
    to_b = await login(client, email, PASSWORD)
    to_a = await login(client, email, OTHER_PASSWORD)
    assert to_b.status_code == 200 and to_a.status_code == 200
    assert (await me(client, to_b.json()["access_token"]))["id"] == str(world.other_client.id)
    assert (await me(client, to_a.json()["access_token"]))["id"] == in_a


async def test_one_password_for_several_clinics_asks_for_clinic_id(client, world, db):
    email = world.other_client.email
    await make_user(db, world.clinic, Role.client, email=email)  # same PASSWORD in clinic A
    await db.commit()
    response = await login(client, email)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert "send clinic_id" in response.json()["error_description"]


async def test_clinic_id_chooses_the_clinic_to_sign_in_to(client, world, db):
    email = world.other_client.email
    in_a = await make_user(db, world.clinic, Role.client, email=email)
    await db.commit()
    for clinic, expected in ((world.clinic, in_a.id), (world.other_clinic, world.other_client.id)):
        response = await login(client, email, clinic_id=str(clinic.id))
        assert response.status_code == 200, response.text
        body = await me(client, response.json()["access_token"])
        assert (body["id"], body["clinic_id"]) == (str(expected), str(clinic.id))


async def test_a_clinic_without_that_email_is_a_wrong_login(client, world):
    response = await login(client, world.other_client.email, clinic_id=str(world.clinic.id))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


async def test_a_malformed_clinic_id_is_invalid_request_naming_the_field(client, world):
    response = await login(client, world.client.email, clinic_id="clinic-a")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert response.json()["errors"][0]["loc"] == ["body", "clinic_id"]
    assert "clinic_id" in response.json()["error_description"]


async def test_staff_with_an_address_of_another_clinic_is_created_like_a_new_one(client, world, db):
    other_id, email = world.other_therapist.id, world.other_therapist.email
    before = await _row(db, other_id)
    answers = [
        await client.post(
            "/v1/users",
            headers=world.auth("admin"),
            json={"email": email, "display_name": "Tess Therapist", "role": "therapist"},
        )
        for email in (email, "brand-new-staff@example.com")
    ]
    assert [a.status_code for a in answers] == [201, 201]
    assert answers[0].json().keys() == answers[1].json().keys()
    assert answers[0].json()["clinic_id"] == str(world.clinic.id)
    assert await _row(db, other_id) == before


async def test_an_address_twice_in_one_clinic_is_still_a_conflict(client, world):
    response = await client.post(
        "/v1/users",
        headers=world.auth("admin"),
        json={"email": world.therapist.email.upper(), "display_name": "Dup", "role": "therapist"},
    )
    assert response.status_code == 409
    assert response.json()["errors"][0]["loc"] == ["body", "email"]


async def _row(db, user_id):
    """The stored row as it is now (columns, not the session's cached object)."""
    row = (await db.execute(select(User.__table__).where(User.id == user_id))).one()
    await db.commit()  # ends the read: a fresh snapshot next time (and nothing expires)
    return row._asdict()
