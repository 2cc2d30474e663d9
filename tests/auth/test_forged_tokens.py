"""Tokens we did not issue, or issued for another use, are refused with 401."""

import base64
import hashlib
import hmac
import json
import time

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from app.main import create_app
from tests.conftest import make_settings
from tests.factories import build_world


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict, claims: dict, key: bytes | None) -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = (
        b"" if key is None else hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    )
    return f"{signing_input}.{b64(signature)}"


def claims_for(world, **changes) -> dict:
    now = int(time.time())
    claims = {
        "sub": str(world.admin.id),
        "kind": "user",
        "clinic": str(world.clinic.id),
        "role": "admin",
        "scope": "homework:read homework:write",
        "iss": "homework-api",
        "aud": "homework-api",
        "iat": now,
        "exp": now + 300,
        "jti": "x",
        "typ": "access",
    }
    claims.update(changes)
    return claims


async def assert_refused(client, token: str) -> None:
    response = await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_correctly_signed_token_is_accepted(client, world, settings):
    secret = settings.jwt_secret.get_secret_value().encode()
    token = forge({"alg": "HS256", "typ": "JWT"}, claims_for(world), secret)
    response = await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


async def test_alg_none_is_refused(client, world):
    await assert_refused(client, forge({"alg": "none", "typ": "JWT"}, claims_for(world), None))


async def test_a_wrong_signature_is_refused(client, world):
    token = forge(
        {"alg": "HS256", "typ": "JWT"}, claims_for(world), b"another-secret-entirely-0123456789"
    )
    await assert_refused(client, token)


@pytest.mark.parametrize(
    "changes",
    [
        {"exp": int(time.time()) - 60},
        {"aud": "someone-else"},
        {"iss": "https://evil.example"},
        {"typ": "refresh"},
        {"sub": "not-a-uuid"},
    ],
    ids=["expired", "wrong-aud", "wrong-iss", "wrong-typ", "bad-sub"],
)
async def test_claims_that_do_not_fit_are_refused(client, world, settings, changes):
    secret = settings.jwt_secret.get_secret_value().encode()
    await assert_refused(client, forge({"alg": "HS256"}, claims_for(world, **changes), secret))


REQUIRED_CLAIMS = ["aud", "iss", "exp", "iat", "jti"]


@pytest.mark.parametrize("claim", REQUIRED_CLAIMS)
async def test_a_token_without_a_required_claim_is_refused(client, world, settings, claim):
    claims = claims_for(world)
    del claims[claim]
    secret = settings.jwt_secret.get_secret_value().encode()
    await assert_refused(client, forge({"alg": "HS256"}, claims, secret))


def _claims_of(token: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))


async def test_every_token_the_app_issues_carries_the_required_claims(client, world):
    from tests.factories import API_SECRET, PASSWORD

    grants = [
        {"grant_type": "password", "username": world.therapist.email, "password": PASSWORD},
        {
            "grant_type": "client_credentials",
            "client_id": str(world.api_clients["api_full"].id),
            "client_secret": API_SECRET,
        },
    ]
    for grant in grants:
        issued = await client.post("/v1/auth/token", data=grant)
        assert issued.status_code == 200, issued.text
        claims = _claims_of(issued.json()["access_token"])
        assert set(REQUIRED_CLAIMS) <= set(claims), claims
        assert claims["aud"] == claims["iss"] == "homework-api"


async def test_a_refresh_token_used_as_access_token_is_refused(client, world):
    from tests.factories import PASSWORD

    tokens = (
        await client.post(
            "/v1/auth/token",
            data={"grant_type": "password", "username": world.admin.email, "password": PASSWORD},
        )
    ).json()
    await assert_refused(client, tokens["refresh_token"])


async def test_an_access_token_used_as_refresh_token_is_refused(client, world):
    response = await client.post(
        "/v1/auth/token",
        data={"grant_type": "refresh_token", "refresh_token": world.tokens["admin"]},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


async def test_a_token_for_another_clinic_claim_is_refused(client, world, settings):
    secret = settings.jwt_secret.get_secret_value().encode()
    token = forge({"alg": "HS256"}, claims_for(world, clinic=str(world.other_clinic.id)), secret)
    await assert_refused(client, token)


def _write_key(tmp_path, algorithm: str):
    if algorithm == "RS256":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path = tmp_path / f"{algorithm}.pem"
    path.write_bytes(pem)
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return path, public_pem


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
async def test_asymmetric_keys_sign_tokens_publish_jwks_and_refuse_hs256_with_the_public_key(
    database_url, tmp_path, algorithm
):
    key_file, public_pem = _write_key(tmp_path, algorithm)
    app = create_app(
        make_settings(database_url, jwt_algorithm=algorithm, jwt_private_key_file=key_file)
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://t") as http,
            app.state.sessionmaker() as db,
        ):
            world = await build_world(db, app)
            jwks = (await http.get("/.well-known/jwks.json")).json()
            assert jwks["keys"][0]["alg"] == algorithm
            assert jwks["keys"][0]["kty"] == ("RSA" if algorithm == "RS256" else "EC")
            assert "d" not in jwks["keys"][0]  # never the private part
            ok = await http.get("/v1/me", headers=world.auth("admin"))
            assert ok.status_code == 200
            header = json.loads(
                base64.urlsafe_b64decode(world.tokens["admin"].split(".")[0] + "==")
            )
            assert header["alg"] == algorithm and header["kid"] == jwks["keys"][0]["kid"]
            confused = forge({"alg": "HS256", "typ": "JWT"}, claims_for(world), public_pem)
            await assert_refused(http, confused)
            from tests.conftest import empty_all_tables

            await empty_all_tables(app)
    finally:
        await app.state.engine.dispose()
