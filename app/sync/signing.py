"""Webhook signatures: endpoint secrets, the headers a delivery carries, and their verification.

A delivery is signed as `Webhook-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` over
`"<t>.<raw body bytes>"`, keyed with the endpoint's whole secret string (prefix included) as
UTF-8. Signing the timestamp together with the body is what makes a captured delivery useless
to replay after the tolerance window. docs/webhooks.md is the receiver-facing description of
the same scheme; keep both in step.
"""

import hashlib
import hmac
import re
import secrets
import time

SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE = 300

# A real header is ~80 characters per secret; the caps keep a hostile header from making the
# verifier do unbounded work (each v1 entry costs one comparison).
_MAX_HEADER_LENGTH = 4096
_MAX_SIGNATURES = 8
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


def new_webhook_secret() -> str:
    """A fresh endpoint secret: `whsec_` and 32 random bytes, URL-safe base64."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    message = f"{timestamp}.".encode("ascii") + bytes(body)
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The `Webhook-Signature` header value for `body` sent at `timestamp`: `t=...,v1=...`."""
    if not secret:
        raise ValueError("a webhook secret must not be empty")
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
        raise ValueError("timestamp must be a non-negative integer of unix seconds")
    return f"t={timestamp},v1={_digest(secret, timestamp, body)}"


def signature_headers(
    event_id: str, secret: str, body: bytes, now: int | None = None
) -> dict[str, str]:
    """Every header that identifies and signs one delivery of `body` (the exact bytes sent)."""
    timestamp = int(time.time()) if now is None else now
    return {
        "Webhook-Id": event_id,
        "Webhook-Timestamp": str(timestamp),
        "Webhook-Signature": sign(secret, timestamp, body),
    }


def _parse(header: str) -> tuple[int, list[str]] | None:
    """The timestamp and the v1 signatures of a header, or None when it is malformed."""
    if len(header) > _MAX_HEADER_LENGTH:
        return None
    timestamps: list[str] = []
    signatures: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            return None
        if key == "t":
            timestamps.append(value.strip())
        elif key == "v1":
            signatures.append(value.strip())
        # Other schemes (v0, a future v2) are skipped, so a receiver keeps working while the
        # sender adds a new one alongside v1.
    if len(timestamps) != 1 or not _TIMESTAMP.fullmatch(timestamps[0]):
        return None
    if not signatures or len(signatures) > _MAX_SIGNATURES:
        return None
    return int(timestamps[0]), signatures


def verify(
    secret: str,
    header: str,
    body: bytes,
    *,
    now: int | None = None,
    tolerance: int = DEFAULT_TOLERANCE,
) -> bool:
    """True when `header` signs `body` with `secret` within `tolerance` seconds of `now`.

    Several `v1=` entries are accepted (during a secret rotation a delivery carries one per
    active secret); one match is enough. A malformed header, an empty secret or a timestamp
    outside the window gives False, never an exception.
    """
    if not isinstance(header, str) or not isinstance(secret, str) or not secret:
        return False
    parsed = _parse(header)
    if parsed is None:
        return False
    timestamp, signatures = parsed
    current = int(time.time()) if now is None else now
    # Both directions: a timestamp far in the future is as suspicious as a stale one.
    if abs(current - timestamp) > tolerance:
        return False
    expected = _digest(secret, timestamp, body).encode("ascii")
    # Bytes on both sides: compare_digest refuses non-ASCII str, and a header is attacker input.
    # Every entry is compared (no early exit), so timing says nothing about which one matched.
    matched = False
    for candidate in signatures:
        matched |= hmac.compare_digest(expected, candidate.lower().encode("utf-8"))
    return matched
