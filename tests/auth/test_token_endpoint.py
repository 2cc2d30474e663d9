"""POST /v1/auth/token: password, refresh_token and client_credentials grants (RFC 6749)."""

import asyncio

from sqlalchemy import select

from app.auth.models import RefreshToken
from tests.factories import API_SECRET, PASSWORD, set_user_status


async def login(client, email, password=PASSWORD, **extra):
    return await client.post(
        "/v1/auth/token",
        data={"grant_type": "password", "username": email, "password": password, **extra},
    )


async def refresh(client, token):
    return await client.post(
        "/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": token}
    )


async def test_password_grant_answers_access_and_refresh_tokens(client, world):
    response = await login(client, world.therapist.email)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert 0 < body["expires_in"] <= 900
    assert body["refresh_token"]
    assert set(body["scope"].split()) == {"homework:read", "homework:write", "fhir:read"}
    assert response.headers["cache-control"] == "no-store"
    me = await client.get("/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["id"] == str(world.therapist.id)


async def test_login_email_is_case_insensitive(client, world):
    response = await login(client, world.client.email.upper())
    assert response.status_code == 200


async def test_unknown_email_and_wrong_password_answer_alike(client, world):
    unknown = await login(client, "nobody@example.com")
    wrong = await login(client, world.therapist.email, "not-the-password")
    assert unknown.status_code == wrong.status_code == 400
    strip = lambda r: {k: v for k, v in r.json().items() if k != "request_id"}  # noqa: E731
    assert strip(unknown) == strip(wrong)
    assert strip(unknown)["error"] == "invalid_grant"


async def test_a_deactivated_account_cannot_log_in(client, world, db):
    await set_user_status(db, world.therapist.id, "deactivated")
    assert (await login(client, world.therapist.email)).status_code == 400


async def test_a_narrower_scope_can_be_asked_for_and_a_wider_one_cannot(client, world):
    narrow = await login(client, world.therapist.email, scope="homework:read")
    assert narrow.status_code == 200
    assert narrow.json()["scope"] == "homework:read"
    wide = await login(client, world.client.email, scope="audit:read")
    assert wide.status_code == 400
    assert wide.json()["error"] == "invalid_scope"


async def test_missing_and_unsupported_grants_are_oauth_errors(client):
    missing = await client.post("/v1/auth/token", data={})
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    other = await client.post("/v1/auth/token", data={"grant_type": "implicit"})
    assert other.status_code == 400 and other.json()["error"] == "unsupported_grant_type"


async def test_refresh_rotates_and_reuse_revokes_the_whole_family(client, world):
    r1 = (await login(client, world.client.email)).json()["refresh_token"]
    second = await refresh(client, r1)
    assert second.status_code == 200
    r2 = second.json()["refresh_token"]
    assert r2 != r1
    reused = await refresh(client, r1)
    assert reused.status_code == 401
    assert reused.json()["error"] == "invalid_grant"
    # R2 descends from the same login, so the reuse revoked it too.
    assert (await refresh(client, r2)).status_code == 401


async def test_refresh_keeps_a_narrowed_scope(client, world):
    r1 = (await login(client, world.therapist.email, scope="homework:read")).json()
    rotated = (await refresh(client, r1["refresh_token"])).json()
    assert rotated["scope"] == "homework:read"


async def test_concurrent_use_of_one_refresh_token_succeeds_at_most_once(client, world):
    r1 = (await login(client, world.client.email)).json()["refresh_token"]
    answers = await asyncio.gather(*(refresh(client, r1) for _ in range(5)))
    assert sum(a.status_code == 200 for a in answers) <= 1
    assert all(a.status_code in (200, 401, 500, 503) for a in answers)
    assert (
        sum(a.status_code == 200 for a in answers) + sum(a.status_code == 401 for a in answers) >= 1
    )


async def test_a_deactivated_user_cannot_refresh(client, world, db):
    r1 = (await login(client, world.client.email)).json()["refresh_token"]
    await set_user_status(db, world.client.id, "deactivated")
    assert (await refresh(client, r1)).status_code == 401


async def test_revoke_endpoint_revokes_a_refresh_token(client, world):
    r1 = (await login(client, world.client.email)).json()["refresh_token"]
    assert (await client.post("/v1/auth/revoke", data={"token": r1})).status_code == 200
    assert (await refresh(client, r1)).status_code == 401


async def test_changing_the_password_revokes_every_refresh_token(client, world, db):
    tokens = (await login(client, world.client.email)).json()
    changed = await client.post(
        "/v1/me/password",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        json={"current_password": PASSWORD, "new_password": "a-brand-new-passphrase"},
    )
    assert changed.status_code == 204
    assert (await refresh(client, tokens["refresh_token"])).status_code == 401
    assert (await login(client, world.client.email, "a-brand-new-passphrase")).status_code == 200
    rows = (
        (await db.execute(select(RefreshToken).where(RefreshToken.user_id == world.client.id)))
        .scalars()
        .all()
    )
    assert sum(r.revoked_at is None for r in rows) == 1  # only the new login's


async def test_client_credentials_grant_issues_a_short_token_without_refresh(client, world):
    api = world.api_clients["api_full"]
    response = await client.post(
        "/v1/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": str(api.id),
            "client_secret": API_SECRET,
            "scope": "homework:read fhir:read",
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert "refresh_token" not in body
    assert body["expires_in"] <= 300
    assert body["scope"] == "fhir:read homework:read"
    listed = await client.get(
        "/v1/clients", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert listed.status_code == 200


async def test_client_credentials_accepts_http_basic(client, world):
    api = world.api_clients["api_full"]
    response = await client.post(
        "/v1/auth/token", data={"grant_type": "client_credentials"}, auth=(str(api.id), API_SECRET)
    )
    assert response.status_code == 200


async def test_wrong_client_secret_is_invalid_client_401(client, world):
    api = world.api_clients["api_full"]
    response = await client.post(
        "/v1/auth/token", data={"grant_type": "client_credentials"}, auth=(str(api.id), "wrong")
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic")


async def test_a_revoked_api_client_loses_access_at_its_next_request(client, world):
    api = world.api_clients["api_full"]
    assert (await client.get("/v1/clients", headers=world.auth("api_full"))).status_code == 200
    revoked = await client.delete(f"/v1/api-clients/{api.id}", headers=world.auth("admin"))
    assert revoked.status_code == 204
    assert (await client.get("/v1/clients", headers=world.auth("api_full"))).status_code == 401
    again = await client.post(
        "/v1/auth/token", data={"grant_type": "client_credentials"}, auth=(str(api.id), API_SECRET)
    )
    assert again.status_code == 401


async def test_a_deactivated_user_loses_access_at_the_next_request(client, world):
    assert (await client.get("/v1/me", headers=world.auth("therapist"))).status_code == 200
    deactivated = await client.patch(
        f"/v1/users/{world.therapist.id}",
        headers=world.auth("admin"),
        json={"status": "deactivated"},
    )
    assert deactivated.status_code == 200
    assert (await client.get("/v1/me", headers=world.auth("therapist"))).status_code == 401
