"""Completions survive bad networks: retries are no-ops, races store one row, batches per item."""

import asyncio
import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from app.completions.models import Completion
from app.core.time import utcnow
from app.templates.library import get_builtin
from tests.factories import make_assignment, make_completion

THOUGHT_RECORD = get_builtin("thought-record").realistic_example


def done(**extra):
    return {
        "completed_at": utcnow().isoformat(),
        "status": "done",
        "responses": THOUGHT_RECORD,
        "mood_before": 3,
        "mood_after": 6,
    } | extra


async def post(client, world, body, who="client", assignment=None):
    assignment_id = (assignment or world.assignment).id
    return await client.post(
        f"/v1/assignments/{assignment_id}/completions", headers=world.auth(who), json=body
    )


async def count(db, **where):
    stmt = select(func.count()).select_from(Completion)
    for key, value in where.items():
        stmt = stmt.where(getattr(Completion, key) == value)
    return await db.scalar(stmt)


async def test_a_done_completion_is_validated_and_stored(client, world):
    response = await post(client, world, done(note="It helped to write it down."))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "done" and body["responses"]["situation"]
    assert body["occurrence_date"] == str(
        utcnow().astimezone(__import__("zoneinfo").ZoneInfo(world.client.timezone)).date()
    )
    assert body["occurrence_time"] is None and body["recorded_by_id"] is None
    assert response.headers["location"] == f"/v1/completions/{body['id']}"


async def test_a_retry_with_the_same_id_and_body_is_a_no_op(client, world, db):
    body = done(id=str(uuid.uuid4()))
    first = await post(client, world, body)
    again = await post(client, world, body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert await count(db) == 1


async def test_the_same_id_with_another_body_is_a_conflict(client, world):
    body = done(id=str(uuid.uuid4()))
    await post(client, world, body)
    changed = await post(client, world, body | {"mood_after": 9})
    assert changed.status_code == 409
    assert changed.json()["existing_id"] == body["id"]


async def test_fifty_concurrent_creates_with_one_id_store_exactly_one_row(client, world, db):
    body = done(id=str(uuid.uuid4()))
    answers = await asyncio.gather(*(post(client, world, body) for _ in range(50)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] * 49 + [201], statuses
    assert {a.json()["id"] for a in answers} == {body["id"]}
    assert await count(db) == 1


async def test_one_completion_per_timed_occurrence(client, world, db):
    timed = await make_assignment(
        db,
        world.therapist,
        world.client,
        schedule={
            "start_date": (utcnow() - timedelta(days=3)).date().isoformat(),
            "rrule": "FREQ=DAILY",
            "times": ["08:00", "20:00"],
        },
    )
    await db.commit()
    day = (
        (utcnow() - timedelta(days=1))
        .astimezone(__import__("zoneinfo").ZoneInfo(world.client.timezone))
        .date()
    )
    skip = {
        "completed_at": utcnow().isoformat(),
        "status": "skipped",
        "skip_reason": "no_time",
        "occurrence_date": str(day),
    }
    ambiguous = await post(client, world, skip, assignment=timed)
    assert ambiguous.status_code == 422
    assert ambiguous.json()["errors"][0]["loc"] == ["body", "occurrence_time"]
    first = await post(client, world, skip | {"occurrence_time": "08:00"}, assignment=timed)
    assert first.status_code == 201
    second = await post(client, world, skip | {"occurrence_time": "08:00"}, assignment=timed)
    assert second.status_code == 409
    assert second.json()["existing_id"] == first.json()["id"]
    other = await post(client, world, skip | {"occurrence_time": "20:00"}, assignment=timed)
    assert other.status_code == 201
    nowhere = await post(client, world, skip | {"occurrence_time": "12:00"}, assignment=timed)
    assert nowhere.status_code == 422


async def test_untimed_assignments_take_several_completions_a_day(client, world):
    assert (await post(client, world, done())).status_code == 201
    assert (await post(client, world, done())).status_code == 201


async def test_validation_errors_name_the_field(client, world):
    broken = dict(THOUGHT_RECORD) | {"intensity_after": "high"}
    response = await post(client, world, done(responses=broken, mood_after=11))
    assert response.status_code == 422
    locs = [e["loc"] for e in response.json()["errors"]]
    assert ["body", "mood_after"] in locs
    bad = await post(client, world, done(responses=broken))
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["loc"] == ["body", "responses", "intensity_after"]


async def test_a_skip_needs_a_reason_and_no_answers(client, world):
    response = await post(
        client, world, {"completed_at": utcnow().isoformat(), "status": "skipped"}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "skip_reason"]


async def test_the_client_clock_is_bounded(client, world):
    future = await post(
        client, world, done(completed_at=(utcnow() + timedelta(minutes=10)).isoformat())
    )
    old = await post(client, world, done(completed_at=(utcnow() - timedelta(days=31)).isoformat()))
    naive = await post(client, world, done(completed_at="2026-11-20T10:00:00"))
    for response in (future, old, naive):
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["body", "completed_at"]


async def test_a_paused_or_ended_assignment_refuses_completions(client, world):
    url = f"/v1/assignments/{world.assignment.id}"
    await client.patch(url, headers=world.auth("therapist"), json={"status": "paused"})
    assert (await post(client, world, done())).status_code == 409
    await client.patch(url, headers=world.auth("therapist"), json={"status": "cancelled"})
    assert (await post(client, world, done())).status_code == 409


async def test_clients_cannot_set_server_fields(client, world):
    response = await post(
        client,
        world,
        done(
            reviewed_by_id=str(world.therapist.id),
            score={"total": 0},
            client_id=str(world.client.id),
        ),
    )
    assert response.status_code == 422
    assert {e["loc"][1] for e in response.json()["errors"]} == {
        "reviewed_by_id",
        "score",
        "client_id",
    }


async def test_a_therapist_records_for_the_client(client, world):
    response = await post(client, world, done(), who="therapist")
    assert response.status_code == 201
    assert response.json()["recorded_by_id"] == str(world.therapist.id)
    assert response.json()["client_id"] == str(world.client.id)


async def test_a_batch_answers_each_item_and_stores_only_the_valid_new_ones(client, world, db):
    replayed = done(id=str(uuid.uuid4()))
    assert (await post(client, world, replayed)).status_code == 201
    conflicting = done(id=replayed["id"], mood_after=1)
    new = done(id=str(uuid.uuid4()))
    invalid = done(id=str(uuid.uuid4()), mood_before=42)
    elsewhere = done(id=str(uuid.uuid4())) | {"assignment_id": str(uuid.uuid4())}
    a = str(world.assignment.id)
    items = [
        new | {"assignment_id": a},
        replayed | {"assignment_id": a},
        conflicting | {"assignment_id": a},
        invalid | {"assignment_id": a},
        elsewhere,
    ]
    response = await client.post(
        "/v1/completions/batch", headers=world.auth("client"), json={"items": items}
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == [201, 200, 409, 422, 404]
    assert results[3]["problem"]["errors"][0]["loc"] == ["body", "items", 3, "mood_before"]
    assert await count(db) == 2
    ids = {str(c) for c in (await db.execute(select(Completion.id))).scalars()}
    assert ids == {new["id"], replayed["id"]}


def nested(depth: int) -> dict:
    value: dict = {"a": "x"}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


async def test_a_batch_item_with_unbounded_answers_is_refused_alone(client, world, db):
    a = str(world.assignment.id)
    items = [
        done(id=str(uuid.uuid4())) | {"assignment_id": a},
        done(responses={"situation": nested(500)}) | {"assignment_id": a},
        done(responses={"situation": list(range(20_000))}) | {"assignment_id": a},
        done(id=str(uuid.uuid4())) | {"assignment_id": a},
    ]
    response = await client.post(
        "/v1/completions/batch", headers=world.auth("client"), json={"items": items}
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == [201, 422, 422, 201]
    assert [(e["loc"], e["type"]) for r in results[1:3] for e in r["problem"]["errors"]] == [
        (["body", "items", 1, "responses"], "json_too_deep"),
        (["body", "items", 2, "responses"], "json_too_large"),
    ]
    assert await count(db) == 2


async def test_a_batch_holds_at_most_100_items(client, world):
    items = [done() | {"assignment_id": str(world.assignment.id)}] * 101
    response = await client.post(
        "/v1/completions/batch", headers=world.auth("client"), json={"items": items}
    )
    assert response.status_code == 422


async def test_a_risk_flag_shows_in_the_review_queue_at_once(client, world, db):
    phq = await make_assignment(db, world.therapist, world.client, slug="phq-9")
    await db.commit()
    answers = {f"item_{n}": 1 for n in range(1, 10)}
    created = await post(client, world, done(responses=answers), assignment=phq)
    assert created.status_code == 201, created.text
    assert created.json()["score"]["risk"] is True
    queue = await client.get(
        "/v1/completions?risk=true&reviewed=false", headers=world.auth("therapist")
    )
    assert [c["id"] for c in queue.json()["items"]] == [created.json()["id"]]


async def test_the_review_queue_lists_only_the_therapists_own_clients(client, world, db):
    other_assignment = await make_assignment(db, world.therapist_other, world.client_other)
    mine = await make_completion(db, world.client, world.assignment, wants_to_discuss=True)
    theirs = await make_completion(db, world.client_other, other_assignment, wants_to_discuss=True)
    await db.commit()
    for who, expected in (
        ("therapist", {mine.id}),
        ("therapist_other", {theirs.id}),
        ("admin", {mine.id, theirs.id}),
    ):
        queue = await client.get(
            "/v1/completions?reviewed=false&wants_to_discuss=true", headers=world.auth(who)
        )
        assert {uuid.UUID(c["id"]) for c in queue.json()["items"]} == expected, who


async def test_review_marks_reviewed_and_adds_the_comment(client, world, db):
    completion = await make_completion(db, world.client, world.assignment)
    await db.commit()
    reviewed = await client.post(
        f"/v1/completions/{completion.id}/review",
        headers=world.auth("therapist"),
        json={"comment": "Skipping is information too. What got in the way?"},
    )
    assert reviewed.status_code == 200
    assert reviewed.json()["reviewed_by_id"] == str(world.therapist.id)
    thread = (
        await client.get(f"/v1/completions/{completion.id}/comments", headers=world.auth("client"))
    ).json()["items"]
    assert [c["author_role"] for c in thread] == ["therapist"]
    answer = await client.post(
        f"/v1/completions/{completion.id}/comments",
        headers=world.auth("client"),
        json={"body": "Work ran late."},
    )
    assert answer.status_code == 201 and answer.json()["author_id"] == str(world.client.id)
    queue = await client.get("/v1/completions?reviewed=false", headers=world.auth("therapist"))
    assert queue.json()["items"] == []


async def test_the_client_edits_within_the_rules(client, world, db):
    created = (await post(client, world, done())).json()
    url = f"/v1/completions/{created['id']}"
    stale_etag = '"99"'
    stale = await client.patch(
        url, headers={**world.auth("client"), "If-Match": stale_etag}, json={"mood_after": 7}
    )
    assert stale.status_code == 412
    edited = await client.patch(
        url,
        headers={**world.auth("client"), "If-Match": '"1"'},
        json={"mood_after": 7, "note": "Better than I expected."},
    )
    assert edited.status_code == 200 and edited.json()["version"] == 2
    to_skip = await client.patch(
        url,
        headers=world.auth("client"),
        json={"status": "skipped", "skip_reason": "too_uncomfortable"},
    )
    assert to_skip.json()["responses"] == {} and to_skip.json()["status"] == "skipped"
    await client.post(f"{url}/review", headers=world.auth("therapist"), json={})
    locked = await client.patch(url, headers=world.auth("client"), json={"mood_after": 8})
    assert locked.status_code == 409


async def test_the_agenda_shows_completed_and_skipped(client, world, db):
    await make_completion(db, world.client, world.assignment)
    await db.commit()
    body = (await client.get("/v1/me/agenda", headers=world.auth("client"))).json()
    today = body["items"][0]
    assert today["status"] == "skipped" and today["completion_id"]
    await post(client, world, done())
    body = (await client.get("/v1/me/agenda", headers=world.auth("client"))).json()
    assert body["items"][0]["status"] == "completed"


async def test_the_csv_export_parses_with_the_documented_columns(client, world, db):
    await post(client, world, done(note='He said "fine", then left.'))
    await make_completion(db, world.client, world.assignment)
    await db.commit()
    response = await client.get(
        "/v1/completions", headers={**world.auth("therapist"), "Accept": "text/csv"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 2
    header = list(rows[0])
    assert header[:4] == ["completion_id", "client_id", "assignment_id", "assignment_title"]
    assert "situation (Situation)" in header or any(h.startswith("situation (") for h in header)
    done_row = next(r for r in rows if r["status"] == "done")
    assert done_row["note"] == 'He said "fine", then left.'
    assert done_row["template_title"] and done_row["mood_after"] == "6"
    skipped = next(r for r in rows if r["status"] == "skipped")
    assert skipped["skip_reason"] == "forgot"
    denied = await client.get(
        "/v1/completions", headers={**world.auth("client"), "Accept": "text/csv"}
    )
    assert denied.status_code == 403


async def test_list_filters_by_completion_time(client, world):
    await post(client, world, done())
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    empty = await client.get(f"/v1/completions?from={later}", headers=world.auth("therapist"))
    assert empty.json()["items"] == []
    full = await client.get(f"/v1/completions?to={later}", headers=world.auth("therapist"))
    assert len(full.json()["items"]) == 1
