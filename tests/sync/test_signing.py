"""Webhook signatures: what `sign` produces, what `verify` accepts, and that the docs agree."""

import hashlib
import hmac
import re
from pathlib import Path

import pytest

from app.sync.signing import new_webhook_secret, sign, signature_headers, verify

SECRET = "whsec_test-secret-not-for-production"
BODY = b'{"id":"01934f6e-8a52-7c3d-9b1e-5f0a2c4d6e8f","type":"completion.created"}'
NOW = 1_764_072_000
DOCS = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def test_new_secret_has_prefix_and_32_random_bytes():
    secret = new_webhook_secret()
    assert secret.startswith("whsec_")
    # 32 bytes in unpadded URL-safe base64 are 43 characters.
    assert re.fullmatch(r"whsec_[A-Za-z0-9_-]{43}", secret)
    assert new_webhook_secret() != secret


def test_sign_is_hmac_sha256_of_timestamp_dot_body():
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, NOW, BODY) == f"t={NOW},v1={expected}"


def test_signature_headers_name_the_event_and_sign_the_body():
    headers = signature_headers("evt-1", SECRET, BODY, now=NOW)
    assert headers == {
        "Webhook-Id": "evt-1",
        "Webhook-Timestamp": str(NOW),
        "Webhook-Signature": sign(SECRET, NOW, BODY),
    }


def test_signature_headers_default_to_the_current_time():
    headers = signature_headers("evt-1", SECRET, BODY)
    assert verify(SECRET, headers["Webhook-Signature"], BODY)


def test_round_trip_verifies():
    assert verify(SECRET, sign(SECRET, NOW, BODY), BODY, now=NOW)


def test_round_trip_verifies_an_empty_body():
    assert verify(SECRET, sign(SECRET, NOW, b""), b"", now=NOW)


def test_uppercase_hex_and_spaces_after_commas_are_accepted():
    t, v1 = sign(SECRET, NOW, BODY).split(",")
    digest = v1.removeprefix("v1=")
    assert verify(SECRET, f"{t}, v1={digest.upper()}", BODY, now=NOW)


def test_tampered_body_is_rejected():
    assert not verify(SECRET, sign(SECRET, NOW, BODY), BODY + b" ", now=NOW)
    assert not verify(
        SECRET, sign(SECRET, NOW, BODY), BODY.replace(b"created", b"deleted"), now=NOW
    )


def test_wrong_secret_is_rejected():
    assert not verify(new_webhook_secret(), sign(SECRET, NOW, BODY), BODY, now=NOW)


def test_empty_secret_is_rejected_and_cannot_sign():
    assert not verify("", sign(SECRET, NOW, BODY), BODY, now=NOW)
    with pytest.raises(ValueError):
        sign("", NOW, BODY)


def test_tampered_timestamp_is_rejected():
    # The timestamp is part of the signed message: moving it forward breaks the signature.
    v1 = sign(SECRET, NOW, BODY).split(",")[1]
    assert not verify(SECRET, f"t={NOW + 60},{v1}", BODY, now=NOW + 60)


def test_timestamp_at_the_tolerance_edge_is_accepted():
    header = sign(SECRET, NOW, BODY)
    assert verify(SECRET, header, BODY, now=NOW + 300)
    assert verify(SECRET, header, BODY, now=NOW - 300)


def test_stale_timestamp_is_rejected():
    assert not verify(SECRET, sign(SECRET, NOW, BODY), BODY, now=NOW + 301)


def test_future_timestamp_beyond_tolerance_is_rejected():
    assert not verify(SECRET, sign(SECRET, NOW + 301, BODY), BODY, now=NOW)


def test_tolerance_is_adjustable():
    header = sign(SECRET, NOW, BODY)
    assert not verify(SECRET, header, BODY, now=NOW + 31, tolerance=30)
    assert verify(SECRET, header, BODY, now=NOW + 3600, tolerance=3600)


@pytest.mark.parametrize(
    "header",
    [
        "",
        ",",
        "garbage",
        "t=",
        "v1=",
        f"t={NOW}",  # no signature at all
        "v1=" + "0" * 64,  # no timestamp
        f"t=abc,v1={'0' * 64}",
        f"t=-{NOW},v1={'0' * 64}",
        f"t=+{NOW},v1={'0' * 64}",
        f"t={NOW}.5,v1={'0' * 64}",
        f"t=١٢٣,v1={'0' * 64}",  # non-ASCII digits that int() would accept
        f"t={NOW},t={NOW},v1={'0' * 64}",  # two timestamps: which one was signed?
        f"t={NOW};v1={'0' * 64}",
        f"t={NOW},v1=zz",
        f"t={NOW},v1=é",  # non-ASCII: compare_digest on str would raise
        f"t={NOW},v0={'0' * 64}",  # only an unknown scheme
        f"t={NOW}," + "v1=x," * 5000,  # absurdly long
        f"t={NOW},v1={'0' * 64},junk",
    ],
)
def test_malformed_headers_are_rejected_without_raising(header):
    assert verify(SECRET, header, BODY, now=NOW) is False


@pytest.mark.parametrize("header", [None, b"t=1,v1=00", 42])
def test_non_string_headers_are_rejected_without_raising(header):
    assert verify(SECRET, header, BODY, now=NOW) is False  # type: ignore[arg-type]


def test_a_second_timestamp_appended_to_a_valid_header_is_rejected():
    real = sign(SECRET, NOW, BODY)
    assert verify(SECRET, real + f",t={NOW}", BODY, now=NOW) is False


def test_multiple_v1_entries_accept_when_any_matches():
    # During rotation the sender signs with the old and the new secret.
    old_secret, new_secret = new_webhook_secret(), new_webhook_secret()
    old_v1 = sign(old_secret, NOW, BODY).split(",")[1]
    new_v1 = sign(new_secret, NOW, BODY).split(",")[1]
    header = f"t={NOW},{old_v1},{new_v1}"
    assert verify(old_secret, header, BODY, now=NOW)
    assert verify(new_secret, header, BODY, now=NOW)
    assert not verify(SECRET, header, BODY, now=NOW)


def test_unknown_schemes_next_to_v1_are_ignored():
    header = sign(SECRET, NOW, BODY) + ",v2=" + "f" * 128
    assert verify(SECRET, header, BODY, now=NOW)


def test_too_many_v1_entries_are_rejected():
    v1 = sign(SECRET, NOW, BODY).split(",")[1]
    header = f"t={NOW}," + ",".join(["v1=" + "0" * 64] * 20 + [v1])
    assert not verify(SECRET, header, BODY, now=NOW)


# --- the receiver's snippet in docs/webhooks.md ---------------------------------------------


def _docs_verify():
    """The `verify_webhook` function exactly as docs/webhooks.md shows it to receivers."""
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.DOTALL)
    snippets = [b for b in blocks if "def verify_webhook" in b]
    assert len(snippets) == 1, "docs/webhooks.md must show exactly one verify_webhook snippet"
    namespace: dict[str, object] = {}
    exec(compile(snippets[0], str(DOCS), "exec"), namespace)  # noqa: S102 - our own docs
    assert set(namespace) - {"__builtins__"} <= {
        "hashlib",
        "hmac",
        "time",
        "TOLERANCE_SECONDS",
        "verify_webhook",
    }, "the snippet must stay self-contained"
    return namespace["verify_webhook"]


def test_docs_snippet_uses_only_the_standard_library():
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.DOTALL)
    snippet = next(b for b in blocks if "def verify_webhook" in b)
    imports = re.findall(r"^(?:import|from) (\w+)", snippet, re.MULTILINE)
    assert set(imports) <= {"hashlib", "hmac", "time"}


def test_docs_snippet_verifies_what_sign_produces():
    verify_webhook = _docs_verify()
    secret = new_webhook_secret()
    headers = signature_headers("evt-1", secret, BODY)
    assert verify_webhook(secret, headers["Webhook-Signature"], BODY) is True
    assert verify_webhook(secret, sign(secret, NOW, BODY), BODY, now=NOW) is True


def test_docs_snippet_rejects_what_verify_rejects():
    verify_webhook = _docs_verify()
    header = sign(SECRET, NOW, BODY)
    assert verify_webhook(SECRET, header, BODY + b"x", now=NOW) is False
    assert verify_webhook(new_webhook_secret(), header, BODY, now=NOW) is False
    assert verify_webhook(SECRET, header, BODY, now=NOW + 301) is False
    assert verify_webhook(SECRET, header, BODY, now=NOW - 301) is False
    for malformed in ("", "garbage", f"t={NOW}", f"t=١٢٣,v1={'0' * 64}", f"t={NOW},v1=é"):
        assert verify_webhook(SECRET, malformed, BODY, now=NOW) is False


def test_docs_snippet_accepts_rotation_headers():
    verify_webhook = _docs_verify()
    other = new_webhook_secret()
    header = f"{sign(other, NOW, BODY)},{sign(SECRET, NOW, BODY).split(',')[1]}"
    assert verify_webhook(SECRET, header, BODY, now=NOW) is True
    assert verify_webhook(other, header, BODY, now=NOW) is True
