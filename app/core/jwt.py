"""The only module that calls python-jose: sign and verify JWTs with a pinned algorithm."""

import hashlib
import json
import uuid
from datetime import timedelta
from functools import cached_property
from typing import Any

from jose import jwk, jwt
from jose.exceptions import JOSEError

from app.core.config import Settings
from app.core.time import utcnow

# Every token we issue carries these; one without any of them was not made by us (a token
# without `aud` would be accepted by any service sharing the key, whoever it was meant for).
REQUIRED_CLAIMS = {f"require_{claim}": True for claim in ("aud", "iss", "exp", "iat", "jti", "sub")}


# How many verified tokens a codec remembers (about 1.5 KB each, and more in the RSS of a
# worker that cycles through more tokens than this: the allocator keeps the churn).
VERIFIED_TOKENS = 512


class TokenError(Exception):
    """The token is not one we issued for this use (any reason; callers answer 401)."""


class JwtCodec:
    def __init__(self, settings: Settings) -> None:
        self.algorithm = settings.jwt_algorithm
        self.issuer = settings.jwt_issuer
        self.audience = settings.jwt_audience
        if self.algorithm == "HS256":
            self._signing_key: str = settings.signing_secret
            self._verifying_key: str = self._signing_key
            self._public_jwk: dict[str, Any] | None = None
        else:
            assert settings.jwt_private_key_file is not None
            pem = settings.jwt_private_key_file.read_text()
            private = jwk.construct(pem, self.algorithm)
            public = private.public_key()
            self._signing_key = pem
            self._verifying_key = public.to_pem().decode()
            self._public_jwk = public.to_dict()
        self._verified: dict[str, dict[str, Any]] = {}

    @cached_property
    def key_id(self) -> str | None:
        if self._public_jwk is None:
            return None

        canonical = json.dumps(self._public_jwk, sort_keys=True).encode()
        return hashlib.sha256(canonical).hexdigest()[:16]

    def jwks(self) -> dict[str, Any]:
        if self._public_jwk is None:
            return {"keys": []}
        key = {**self._public_jwk, "kid": self.key_id, "use": "sig", "alg": self.algorithm}
        return {"keys": [{k: (v.decode() if isinstance(v, bytes) else v) for k, v in key.items()}]}

    def encode(self, claims: dict[str, Any], *, typ: str, ttl_seconds: int) -> str:
        now = utcnow()
        payload = {
            **claims,
            "iss": self.issuer,
            "aud": self.audience,
            "iat": int(now.timestamp()),
            "exp": int((now + timedelta(seconds=ttl_seconds)).timestamp()),
            "jti": uuid.uuid4().hex,
            "typ": typ,
        }
        headers = {"kid": self.key_id} if self.key_id else None
        return jwt.encode(payload, self._signing_key, algorithm=self.algorithm, headers=headers)

    def decode(self, token: str, *, typ: str) -> dict[str, Any]:
        """The claims of a token we issued for this use, or TokenError.

        A token verified once is remembered (up to `VERIFIED_TOKENS`, the oldest forgotten
        first): its signature, audience and issuer hold for as long as this codec's key does,
        so a client's next request with it costs a lookup. Its expiry is checked each time,
        as python-jose checks it (valid up to and including the second of `exp`)."""
        claims = self._verified.get(token)
        if claims is None:
            claims = self._verify(token)
            if len(self._verified) >= VERIFIED_TOKENS:
                del self._verified[next(iter(self._verified))]
            self._verified[token] = claims
        elif claims["exp"] < int(utcnow().timestamp()):
            del self._verified[token]
            raise TokenError("Signature has expired.")
        if claims.get("typ") != typ:
            raise TokenError("wrong token type")
        return dict(claims)

    def _verify(self, token: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._verifying_key,
                algorithms=[self.algorithm],
                audience=self.audience,
                issuer=self.issuer,
                options=REQUIRED_CLAIMS,
            )
        except (JOSEError, ValueError, TypeError, KeyError) as exc:
            raise TokenError(str(exc)) from None
        return claims
