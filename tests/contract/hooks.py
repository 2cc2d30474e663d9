"""Schemathesis hooks for the contract run (`hooks = "tests.contract.hooks"` in its config).

`before_call` keeps the fuzzer from tripping over a protocol rule it cannot know about, without
changing what a request means. No failure is filtered: every check the run makes counts.
"""

import uuid

import schemathesis

IDEMPOTENCY_KEY = "Idempotency-Key"


@schemathesis.hook
def before_call(context, case, kwargs):
    """A fresh `Idempotency-Key` on every schema-valid request.

    CONVENTIONS.md: "the same key with another body is a 422". The generator draws keys from a
    small space ("0", "00", ...) and so sends one key with many different bodies; those 422s
    are the API keeping its promise, and they would hide every body behind them from the
    positive checks. Negative cases keep the key they were generated with (it may be the
    invalid part). The suffix keeps the key within the documented pattern and length.
    """
    headers = case.headers
    if not headers or IDEMPOTENCY_KEY not in headers or case.meta is None:
        return
    if not case.meta.generation.mode.is_positive:
        return
    key = headers[IDEMPOTENCY_KEY]
    if isinstance(key, str) and key:
        suffix = f"-{uuid.uuid4().hex}"
        # At most 255 characters, so a key at the maximum length stays at it.
        headers[IDEMPOTENCY_KEY] = key[: 255 - len(suffix)] + suffix
