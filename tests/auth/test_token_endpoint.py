"""POST /v1/auth/token: password, refresh_token and client_credentials grants (RFC 6749).

Its errors are RFC 6749 §5.2 bodies (`error`, `error_description`) that are RFC 9457 problems
as well (`type`, `title`, `status`, `detail`), sent as `application/json`: 400 `invalid_grant`
for a wrong password or an unusable refresh token, 400 `invalid_request` for a missing or
malformed parameter, 401 `invalid_client` only when client authentication fails, and 415 for a
body that is not a form.
"""

import asyncio
from datetime import timedelta

from sqlalchemy import select, update

from app.auth.models import RefreshToken
from app.core.time import utcnow
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


def assert_oauth_error(response, status, error):
    """An RFC 6749 §5.2 error that is also an RFC 9457 problem, in one application/json body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["error"] == error
    assert body["error_description"] == body["detail"] and body["detail"]
    assert body["status"] == status
    assert body["type"].startswith("urn:homework:problem:") and body["title"]
    assert body["instance"] == "/v1/auth/token"
    assert body["request_id"] == response.headers["x-request-id"]
    return body


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
    assert_oauth_error(unknown, 400, "invalid_grant")
    assert_oauth_error(wrong, 400, "invalid_grant")
    strip = lambda r: {k: v for k, v in r.json().items() if k != "request_id"}  # noqa: E731
    assert strip(unknown) == strip(wrong)
    assert strip(unknown)["type"] == "urn:homework:problem:invalid-grant"


async def test_a_deactivated_account_cannot_log_in(client, world, db):
    await set_user_status(db, world.therapist.id, "deactivated")
    assert_oauth_error(await login(client, world.therapist.email), 400, "invalid_grant")


async def test_a_narrower_scope_can_be_asked_for_and_a_wider_one_cannot(client, world):
    narrow = await login(client, world.therapist.email, scope="homework:read")
    assert narrow.status_code == 200
    assert narrow.json()["scope"] == "homework:read"
    wide = await login(client, world.client.email, scope="audit:read")
    assert_oauth_error(wide, 400, "invalid_scope")


async def test_missing_and_unsupported_grants_are_oauth_errors(client):
    missing = await client.post("/v1/auth/token", data={})
    assert_oauth_error(missing, 400, "invalid_request")
    other = await client.post("/v1/auth/token", data={"grant_type": "implicit"})
    assert_oauth_error(other, 400, "unsupported_grant_type")
    no_password = await client.post(
        "/v1/auth/token", data={"grant_type": "password", "username": "a@example.com"}
    )
    assert_oauth_error(no_password, 400, "invalid_request")


async def test_a_parameter_over_its_length_is_invalid_request_naming_it(client, world):
    response = await login(client, world.therapist.email, scope="x" * 5000)
    body = assert_oauth_error(response, 400, "invalid_request")
    assert [e["loc"] for e in body["errors"]] == [["body", "scope"]]
    assert "scope" in body["detail"]


async def test_a_json_body_is_415_asking_for_a_form(client, world):
    response = await client.post(
        "/v1/auth/token",
        json={"grant_type": "password", "username": world.therapist.email, "password": PASSWORD},
    )
    body = assert_oauth_error(response, 415, "invalid_request")
    assert body["type"] == "urn:homework:problem:unsupported-media-type"
    assert "application/x-www-form-urlencoded" in body["error_description"]
    assert response.headers["accept-post"] == "application/x-www-form-urlencoded"


async def test_a_form_with_a_charset_is_taken(client, world):
    response = await client.post(
        "/v1/auth/token",
        content=f"grant_type=password&username={world.client.email}&password={PASSWORD}",
        headers={"content-type": "application/x-www-form-urlencoded; charset=UTF-8"},
    )
    assert response.status_code == 200, response.text


async def test_refresh_rotates_and_reuse_revokes_the_whole_family(client, world):
    r1 = (await login(client, world.client.email)).json()["refresh_token"]
    second = await refresh(client, r1)
    assert second.status_code == 200
    r2 = second.json()["refresh_token"]
    assert r2 != r1
    reused = await refresh(client, r1)
    assert_oauth_error(reused, 400, "invalid_grant")
    # R2 descends from the same login, so the reuse revoked it too.
    assert_oauth_error(await refresh(client, r2), 400, "invalid_grant")


async def test_an_expired_or_unknown_refresh_token_is_invalid_grant(client, world, db):
    r1 = (await login(client, world.client.email)).json()["refresh_token"]
    await db.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == world.client.id)
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )
    await db.commit()
    assert_oauth_error(await refresh(client, r1), 400, "invalid_grant")
    assert_oauth_error(await refresh(client, "never-issued"), 400, "invalid_grant")


async def test_refresh_keeps_a_narrowed_scope(client, world):
    r1 = (await login(client, world.therapist.email, scope="homework:read")).json()
    rotated = (await refresh(client, r1["refresh_token"])).json()
    assert rotated["scope"] == "homework:read"


async def test_concurrent_use_of_one_refresh_token_succeeds_at_most_once(client, world):
    r1 = (await login(client, world.client.email)).json()["refresh_token"]
    answers = await asyncio.gather(*(refresh(client, r1) for _ in range(5)))
    assert sum(a.status_code == 200 for a in answers) <= 1
    assert all(a.status_code in (200, 400, 500, 503) for a in answers)
    assert (
        sum(a.status_code == 200 for a in answers) + sum(a.status_code == 400 for a in answers) >= 1
    )


async def test_a_deactivated_user_cannot_refresh(client, world, db):
    r1 = (await login(client, world.client.email)).json()["refresh_token"]
    await set_user_status(db, world.client.id, "deactivated")
    assert_oauth_error(await refresh(client, r1), 400, "invalid_grant")


async def test_revoke_endpoint_revokes_a_refresh_token(client, world):
    r1 = (await login(client, world.client.email)).json()["refresh_token"]
    assert (await client.post("/v1/auth/revoke", data={"token": r1})).status_code == 200
    assert_oauth_error(await refresh(client, r1), 400, "invalid_grant")


async def test_revoke_takes_only_a_form_with_a_token(client):
    missing = await client.post("/v1/auth/revoke", data={})
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    assert missing.json()["errors"][0]["loc"] == ["body", "token"]
    as_json = await client.post("/v1/auth/revoke", json={"token": "x"})
    assert as_json.status_code == 415 and as_json.json()["error"] == "invalid_request"
    assert as_json.headers["content-type"] == "application/json"


async def test_changing_the_password_revokes_every_refresh_token(client, world, db):
    tokens = (await login(client, world.client.email)).json()
    changed = await client.post(
        "/v1/me/password",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        json={"current_password": PASSWORD, "new_password": "a-brand-new-passphrase"},
    )
    assert changed.status_code == 204
    assert_oauth_error(await refresh(client, tokens["refresh_token"]), 400, "invalid_grant")
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
    assert_oauth_error(response, 401, "invalid_client")
    assert response.headers["www-authenticate"].startswith("Basic")
    in_the_form = await client.post(
        "/v1/auth/token",
        data={"grant_type": "client_credentials", "client_id": str(api.id), "client_secret": "x"},
    )
    assert_oauth_error(in_the_form, 401, "invalid_client")
    assert "www-authenticate" not in in_the_form.headers


async def test_a_revoked_api_client_loses_access_at_its_next_request(client, world):
    api = world.api_clients["api_full"]
    assert (await client.get("/v1/clients", headers=world.auth("api_full"))).status_code == 200
    revoked = await client.delete(f"/v1/api-clients/{api.id}", headers=world.auth("admin"))
    assert revoked.status_code == 204
    assert (await client.get("/v1/clients", headers=world.auth("api_full"))).status_code == 401
    again = await client.post(
        "/v1/auth/token", data={"grant_type": "client_credentials"}, auth=(str(api.id), API_SECRET)
    )
    assert_oauth_error(again, 401, "invalid_client")


async def test_a_deactivated_user_loses_access_at_the_next_request(client, world):
    assert (await client.get("/v1/me", headers=world.auth("therapist"))).status_code == 200
    deactivated = await client.patch(
        f"/v1/users/{world.therapist.id}",
        headers=world.auth("admin"),
        json={"status": "deactivated"},
    )
    assert deactivated.status_code == 200
    assert (await client.get("/v1/me", headers=world.auth("therapist"))).status_code == 401
