"""Schemathesis hooks for the contract run (`hooks = "tests.contract.hooks"` in its config).

Two kinds of hook, both as narrow as they can be:

- `before_call` keeps the fuzzer from tripping over a protocol rule it cannot know about,
  without changing what a request means.
- `filter_failure` drops a reported failure only when the check is wrong for the reason written
  next to its rule. Every rule is about one check (`positive_data_acceptance`, ST202) and looks
  at the status, the problem body the API answered and the request that was sent, so any other
  failure, on any operation, still fails the run.

Why `positive_data_acceptance` needs rules at all: it assumes that every request the schema
allows must be accepted. The API also enforces rules that the contract states in words (in
descriptions and the documented 422 "Validation failed; `errors` lists each field") but that
JSON Schema cannot express: relations between two values, values only the server can issue,
facts about stored data. A schema-valid request that breaks one is answered 422 with the rule
named in `errors[].type`; that answer is correct, not a contract violation.
"""

import json
import uuid
from typing import Any

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


# Business rules named by the API's own `errors[].type`, and why no JSON Schema can rule out a
# request that breaks them. A 422 is dropped only when *every* error in it is one of these.
SEMANTIC_ERROR_TYPES = {
    # `cursor` is documented as "Opaque cursor from the previous page's next_cursor": only a
    # value this list handed out is valid, and a generated string is not one.
    "cursor_invalid": "a cursor is valid only if the list issued it",
    # Agenda: `to` at most 92 days after `from`; metrics: `from` <= `to`, at most 366 days
    # apart. Both are relations between two parameters (JSON Schema validates each alone).
    "range": "the span between `from` and `to` is limited",
    # `to` before `from`; a schedule's `end_date` before its `start_date`.
    "date_order": "one date must not come before the other",
    # A schedule has at most one bound: `count`, `end_date`, or COUNT/UNTIL inside `rrule`.
    "schedule_conflict": "schedule fields that exclude each other",
    # `rrule` is an "RFC 5545 RRULE value" (a string with examples): its grammar and meaning,
    # such as a rule that yields no date before its bound, are no pattern.
    "rrule_invalid": "not a usable RFC 5545 recurrence rule",
    "rrule_unsupported": "an RFC 5545 feature the API does not take",
    # POST /v1/me/password: only the account's own password is right.
    "password": "the current password is wrong",
    # The password policy's lengths are in the schema (minLength/maxLength); what is left is
    # "not the account's own email address", a relation to stored data.
    "password_policy": "the password is the account's email address",
    # POST /v1/invitations/accept: a code is valid only if the server issued it, unused.
    "invitation": "the invitation code was not issued or is spent",
    # PUT care-team: the ids must name active therapists of the caller's clinic (stored data).
    "therapist": "a care-team member is not a therapist of this clinic",
    # Completions: `completed_at` is "the client's clock; up to 30 days in the past, at most 5
    # minutes ahead" (and the occurrence at most a day ahead of it): relative to the server's
    # clock at the time of the request.
    "too_old": "completed_at is more than 30 days in the past",
    "future": "a time or date lies too far ahead",
    # Completions: the occurrence must be one the assignment's schedule has (stored data), and
    # `occurrence_time` only goes with a timed schedule.
    "no_occurrence": "the assignment has no occurrence then",
    "untimed": "occurrence_time for a schedule without times",
    # Completions: a skip carries a reason and no answers, a done one the reverse (`status`
    # decides which other fields are allowed: a relation between fields).
    "skipped": "a skipped completion with answers",
    "not_skipped": "a skip reason on a completion that is not skipped",
    # Ids in a body (a goal for an assignment) must name a stored row the caller may see; the
    # schema can only say "uuid". The addressed resource exists, so this is 422, not 404.
    "not_found": "a referenced id names no row the caller may see",
    # Time zones: the contract says "IANA time zone" (example `Europe/Berlin`). Which names
    # exist is the IANA database's list; it changes with tzdata releases and is no pattern.
    "timezone_invalid": "not a zone in the IANA database",
    # The API description: "Calendar dates lie between 0002-01-01 and 9998-12-31, and instants
    # within years 1 to 9999 in UTC." JSON Schema has no bounds for `format: date`/`date-time`.
    "date_range": "a calendar date at the very ends of the calendar",
    "datetime_range": "an instant that does not exist in UTC",
    # POST /v1/goals/{goal_id}/steps: "A goal holds at most 50 steps", counting the stored ones.
    "too_many": "a limit on how many rows may exist",
    # PostgreSQL text and jsonb cannot hold U+0000, and the API description says so ("Text
    # cannot contain the NUL character"); a JSON Schema string admits it. The generator sends
    # NULs on purpose, which also keeps checking that they are a 422 and never a 500.
    "nul_character": "text with U+0000",
}


def _json(data: Any) -> Any:
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    try:
        return json.loads(data) if isinstance(data, str) else None
    except ValueError:
        return None


_MISSING = object()


def _at(body: Any, loc: list[Any]) -> Any:
    """The value at an error's `loc` (after its leading "body"), or `_MISSING`."""
    for part in loc[1:]:
        in_object = isinstance(body, dict) and isinstance(part, str) and part in body
        in_array = isinstance(body, list) and isinstance(part, int) and 0 <= part < len(body)
        if not (in_object or in_array):
            return _MISSING
        body = body[part]
    return body


def _is_semantic(error: dict[str, Any], sent: Any) -> bool:
    kind, loc, msg = error.get("type"), error.get("loc") or [], str(error.get("msg", ""))
    if kind in SEMANTIC_ERROR_TYPES:
        return True
    # A completion's `responses` are checked against the fields of the template version its
    # assignment pins; the contract types them as a free-form object because every template
    # defines its own fields.
    if loc[:2] == ["body", "responses"]:
        return True
    # A field the API requires only in some cases, which the contract states in the field's
    # description: `client_id` "Required for staff" (POST /v1/goals), `skip_reason` "Required
    # when skipped", `occurrence_time` when the day has several timed occurrences. A schema
    # cannot make a field required by the caller's role or another field's value. Pydantic's
    # own "Field required" (a field the schema itself requires) is not dropped.
    if kind == "missing" and msg != "Field required" and loc[:1] == ["body"]:
        return _at(sent, loc) in (None, _MISSING)
    # Time zones again (see "timezone_invalid"), where a model validator names the rule.
    if kind == "value_error" and loc and loc[-1] == "timezone" and "time zone" in msg:
        return True
    # `format: email` admits any syntactically valid address; the API also refuses domains
    # that can never receive mail (RFC 6761 special-use names such as `.test`, `.invalid`).
    if kind == "value_error" and loc == ["body", "email"]:
        return "special-use or reserved name" in msg
    # The API takes whole numbers only as JSON integers (6, not 6.0), as it does for template
    # answers (tests/templates/test_validation.py). JSON Schema 2020-12 counts 6.0 as an
    # integer and has no keyword to exclude it, so the generator sends it. Dropped only when
    # the value sent really is such a float.
    # (`option_value` is the same rule for a choice's value: an integer or a code.)
    if kind in ("int_type", "option_value") and loc[:1] == ["body"]:
        value = _at(sent, loc)
        return isinstance(value, float) and value.is_integer()
    # External ids: "at most one external id per system". Uniqueness by one member of the
    # items; JSON Schema's uniqueItems compares whole items.
    if kind == "value_error" and loc == ["body", "external_ids"]:
        return "one external id per system" in msg
    return False


def _incomplete_template(problem: dict[str, Any], sent: Any) -> bool:
    """POST /v1/templates without `based_on` must carry a whole definition; with it, the fields
    left out come from the base. Which fields are required depends on another field, so the
    schema marks them all optional. Dropped only when every error names a definition field the
    request left out or sent as null: a value that was sent and refused still fails."""
    if not isinstance(sent, dict) or sent.get("based_on") is not None:
        return False
    errors = problem.get("errors") or []
    return bool(errors) and all(
        len(error.get("loc") or []) == 2
        and error["loc"][0] == "body"
        and sent.get(error["loc"][1]) is None
        for error in errors
    )


@schemathesis.hook
def filter_failure(context, failure, case, response):
    """False drops the failure; see each rule for why the check is wrong there."""
    if failure.code != "ST202":  # positive_data_acceptance
        return True
    request = response.request
    problem = _json(response.content)
    if not isinstance(problem, dict):
        return True
    if response.status_code == 412:
        # `If-Match` is any string in the schema, and only the resource's current ETag passes:
        # 412 is the documented answer ("`If-Match` does not match the current version").
        if request.headers.get("If-Match") is not None:
            return False
        # Without `If-Match`: two workers changed the same row at once, and the later write
        # lost the optimistic-locking race ("The resource changed while this request was
        # running"), the same 412 for the same reason.
        return "changed while this request was running" not in str(problem.get("detail"))
    if response.status_code != 422:
        return True
    sent = _json(request.body)
    operation = case.operation.label
    if operation == "POST /v1/templates" and _incomplete_template(problem, sent):
        return False
    errors = problem.get("errors") or []
    semantic = bool(errors) and all(
        isinstance(error, dict) and _is_semantic(error, sent) for error in errors
    )
    return not semantic
