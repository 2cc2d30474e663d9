"""A realistic client record shaped like the API's JSON, built from the real built-in templates.

Rows dated in October are "old" and rows dated from 16 November on are "new", so that a
`since` of 15 November splits them. Scores come from the real scoring code.
"""

from typing import Any

from app.templates.library import get_builtin
from app.templates.scoring import score_responses
from app.templates.validation import validate_responses

BASE_URL = "https://api.example/v1/fhir"
SPLIT = "2026-11-15T00:00:00+00:00"
OLD = "2026-10-12T09:30:00+00:00"
NEW = "2026-11-20T08:05:00+00:00"

CLINIC_ID = "0190f3a0-0000-7000-8000-00000000c111"
CLIENT_ID = "0190f3a0-0000-7000-8000-00000000a001"
THERAPIST_IDS = ("0190f3a0-0000-7000-8000-00000000d001", "0190f3a0-0000-7000-8000-00000000d002")
TEMPLATE_IDS = {
    "phq-9": "0190f3a0-0000-7000-8000-0000000001a9",
    "gad-7": "0190f3a0-0000-7000-8000-0000000001a7",
    "thought-record": "0190f3a0-0000-7000-8000-0000000001b1",
    "cognitive-distortions": "0190f3a0-0000-7000-8000-0000000001b2",
    "activity-log": "0190f3a0-0000-7000-8000-0000000001b3",
}
# The thought record is on its second version; every other template on its first.
VERSIONS = {"thought-record": 2}
GOAL_SLEEP = "0190f3a0-0000-7000-8000-00000000e001"
GOAL_RUNNING = "0190f3a0-0000-7000-8000-00000000e002"
STEP_IDS = ("0190f3a0-0000-7000-8000-00000000f001", "0190f3a0-0000-7000-8000-00000000f002")


def aid(n: int) -> str:
    return f"0190f3a0-0000-7000-8000-0000000a{n:04d}"


def cid(n: int) -> str:
    return f"0190f3a0-0000-7000-8000-0000000c{n:04d}"


def template_version(slug: str) -> dict[str, Any]:
    version = VERSIONS.get(slug, 1)
    return {
        "template_id": TEMPLATE_IDS[slug],
        "version": version,
        "slug": slug,
        **get_builtin(slug).definition.model_dump(mode="json"),
        "created_at": NEW if version > 1 else "2026-09-01T00:00:00+00:00",
    }


def schedule(start: str, rrule: str | None, times: list[str], **bounds: Any) -> dict[str, Any]:
    return {
        "start_date": start,
        "end_date": bounds.get("end_date"),
        "count": bounds.get("count"),
        "rrule": rrule,
        "times": times,
        "timezone": "Europe/Berlin",
    }


def assignment(
    n: int, slug: str, status: str, plan: dict, goal_id: str | None = None
) -> dict[str, Any]:
    built = get_builtin(slug).definition
    return {
        "id": aid(n),
        "template_id": TEMPLATE_IDS[slug],
        "template_version": VERSIONS.get(slug, 1),
        "template_kind": built.kind.value,
        "title": built.title,
        "instructions": f"Please do the {built.title.lower()} as we discussed in session.",
        "status": status,
        "goal_id": goal_id,
        "schedule": plan,
        "created_at": OLD,
        "updated_at": OLD,
    }


def completion(
    n: int,
    assignment_no: int,
    slug: str,
    responses: dict[str, Any],
    *,
    at: str,
    status: str = "done",
) -> dict[str, Any]:
    definition = get_builtin(slug).definition
    score = None
    if status == "done":
        clean, errors = validate_responses(definition, responses)
        assert errors == [], errors
        scored = score_responses(definition, clean)
        score = scored.model_dump(mode="json") if scored else None
    return {
        "id": cid(n),
        "assignment_id": aid(assignment_no),
        "template_id": TEMPLATE_IDS[slug],
        "template_version": VERSIONS.get(slug, 1),
        "status": status,
        "completed_at": at,
        "occurrence_date": at[:10],
        "responses": responses,
        "score": score,
        "skip_reason": "not_enough_time" if status == "skipped" else None,
        "note": None,
        "updated_at": at,
    }


def example(slug: str) -> dict[str, Any]:
    return dict(get_builtin(slug).realistic_example)


def record(**overrides: Any) -> dict[str, Any]:
    phq9_october = {f"item_{n}": 2 for n in range(1, 10)} | {"item_9": 1}
    data: dict[str, Any] = {
        "base_url": BASE_URL,
        "clinic": {"id": CLINIC_ID, "name": "Riverside Counselling"},
        "client": {
            "id": CLIENT_ID,
            "email": "sam.rivera@example.org",
            "display_name": "Sam Rivera",
            "timezone": "Europe/Berlin",
            "status": "active",
            "external_ids": [{"system": "https://ehr.riverside.example/mrn", "value": "MRN-4211"}],
            "created_at": "2026-10-01T10:00:00+00:00",
            "updated_at": "2026-10-02T10:00:00+00:00",
        },
        "therapists": [
            {"id": THERAPIST_IDS[0], "display_name": "Dr. Ana Costa", "email": "ana@example.org"},
            {"id": THERAPIST_IDS[1], "display_name": "Lee Park", "email": None},
        ],
        "template_versions": [template_version(slug) for slug in TEMPLATE_IDS],
        "assignments": [
            assignment(
                1,
                "phq-9",
                "active",
                schedule("2026-10-05", "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO", ["09:00"], count=6),
            ),
            assignment(
                2,
                "thought-record",
                "active",
                schedule(
                    "2026-11-02",
                    "FREQ=WEEKLY;BYDAY=MO,WE,FR;INTERVAL=1",
                    ["08:00", "20:00"],
                    end_date="2026-12-18",
                ),
                goal_id=GOAL_SLEEP,
            ),
            assignment(
                3, "cognitive-distortions", "completed", schedule("2026-11-21", None, ["18:30"])
            ),
            assignment(4, "gad-7", "paused", schedule("2026-10-05", "FREQ=MONTHLY;BYDAY=1MO", [])),
            assignment(
                5,
                "activity-log",
                "cancelled",
                schedule("2026-10-01", "FREQ=DAILY;UNTIL=20261031", []),
                goal_id=GOAL_RUNNING,
            ),
        ],
        "completions": [
            completion(1, 1, "phq-9", phq9_october, at="2026-10-19T07:40:00+00:00"),
            completion(2, 1, "phq-9", example("phq-9"), at="2026-11-16T07:55:00+00:00"),
            completion(3, 2, "thought-record", example("thought-record"), at=NEW),
            completion(4, 3, "cognitive-distortions", example("cognitive-distortions"), at=NEW),
            completion(5, 4, "gad-7", example("gad-7"), at="2026-10-05T18:00:00+00:00"),
            completion(
                6, 2, "thought-record", {}, at="2026-11-18T19:00:00+00:00", status="skipped"
            ),
            completion(7, 5, "activity-log", example("activity-log"), at=OLD),
        ],
        "goals": [
            {
                "id": GOAL_SLEEP,
                "title": "Sleep before midnight on weeknights",
                "description": "Wind down from 22:30 and keep the phone out of the bedroom.",
                "why": "I want to have the energy to enjoy mornings with my kids.",
                "target_date": "2027-01-31",
                "status": "active",
                "steps": [
                    {
                        "id": STEP_IDS[1],
                        "title": "Charge the phone in the kitchen",
                        "done": False,
                        "done_at": None,
                        "position": 1,
                    },
                    {
                        "id": STEP_IDS[0],
                        "title": "Set a 22:30 wind-down alarm",
                        "done": True,
                        "done_at": "2026-10-10T21:00:00+00:00",
                        "position": 0,
                    },
                ],
                "created_at": OLD,
                "updated_at": OLD,
            },
            {
                "id": GOAL_RUNNING,
                "title": "Return to the Saturday running group",
                "description": "",
                "why": "",
                "target_date": None,
                "status": "achieved",
                "steps": [],
                "created_at": OLD,
                "updated_at": NEW,
            },
        ],
        "adherence": [
            {
                "period_start": "2026-11-02",
                "period_end": "2026-11-08",
                "scheduled": 8,
                "completed": 6,
                "rate": 0.75,
            },
            {
                "period_start": "2026-11-09",
                "period_end": "2026-11-15",
                "scheduled": 0,
                "completed": 0,
                "rate": None,
            },
        ],
    }
    return data | overrides
