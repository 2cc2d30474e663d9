"""A token verified once is remembered by its codec: the next request with it skips the
signature check, and still gets every other answer it would have got."""

from datetime import UTC, datetime, timedelta

import pytest
from jose import jwt as jose_jwt

from app.core import jwt as jwt_module
from app.core.jwt import JwtCodec, TokenError
from tests.conftest import make_settings


@pytest.fixture
def codec() -> JwtCodec:
    return JwtCodec(make_settings("sqlite+aiosqlite://"))


def _verifications(codec: JwtCodec, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    verify = codec._verify

    def counted(token: str) -> dict:
        calls.append(token)
        return verify(token)

    monkeypatch.setattr(codec, "_verify", counted)
    return calls


def test_a_token_is_verified_once_and_its_claims_answered_again(codec, monkeypatch):
    calls = _verifications(codec, monkeypatch)
    token = codec.encode({"sub": "a", "kind": "user"}, typ="access", ttl_seconds=60)
    first = codec.decode(token, typ="access")
    second = codec.decode(token, typ="access")
    assert first == second and first["sub"] == "a"
    assert calls == [token]
    # The caller gets its own copy: changing it changes nothing remembered.
    second["sub"] = "b"
    assert codec.decode(token, typ="access")["sub"] == "a"


def test_a_remembered_token_is_still_refused_for_another_use(codec):
    token = codec.encode({"sub": "a"}, typ="refresh", ttl_seconds=60)
    assert codec.decode(token, typ="refresh")["typ"] == "refresh"
    with pytest.raises(TokenError):
        codec.decode(token, typ="access")


def test_a_remembered_token_is_refused_once_expired(codec, monkeypatch):
    token = codec.encode({"sub": "a"}, typ="access", ttl_seconds=60)
    codec.decode(token, typ="access")
    expiry = datetime.fromtimestamp(jose_jwt.get_unverified_claims(token)["exp"], UTC)
    clock = [expiry]
    monkeypatch.setattr(jwt_module, "utcnow", lambda: clock[0])
    assert codec.decode(token, typ="access")["sub"] == "a"  # valid through its last second
    clock[0] = expiry + timedelta(seconds=1)
    with pytest.raises(TokenError, match="expired"):
        codec.decode(token, typ="access")
    assert token not in codec._verified  # forgotten: a next use is verified in full again


def test_a_forged_token_is_never_remembered(codec, monkeypatch):
    calls = _verifications(codec, monkeypatch)
    token = codec.encode({"sub": "a"}, typ="access", ttl_seconds=60)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    for _ in range(2):
        with pytest.raises(TokenError):
            codec.decode(forged, typ="access")
    assert calls == [forged, forged]


def test_the_oldest_token_is_forgotten_first(codec, monkeypatch):
    monkeypatch.setattr(jwt_module, "VERIFIED_TOKENS", 2)
    calls = _verifications(codec, monkeypatch)
    tokens = [codec.encode({"sub": str(n)}, typ="access", ttl_seconds=60) for n in range(3)]
    for token in tokens:
        codec.decode(token, typ="access")
    codec.decode(tokens[2], typ="access")
    codec.decode(tokens[0], typ="access")
    assert calls == [*tokens, tokens[0]]
