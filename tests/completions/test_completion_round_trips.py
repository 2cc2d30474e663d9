"""Recording a completion in few round trips: the completion and each award one INSERT ... ON
CONFLICT DO NOTHING (no savepoints, no lookup before); the assignment, the client's assignments,
achievements, done days and the assignments' timelines read in one statement (the context);
template versions read once per process; the audit row sent with the events. The answers stay
the same, retries included."""

import re
import uuid
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from app.completions.achievements import award
from app.completions.models import Achievement, AchievementType, Completion
from app.core.outbox import Event
from app.core.time import utcnow
from app.templates import repository
from app.templates.library import get_builtin
from tests.factories import make_assignment
from tests.statements import statements

THOUGHT_RECORD = get_builtin("thought-record").realistic_example


def matching(seen: list[str], pattern: str) -> list[str]:
    return [s for s in seen if re.search(pattern, s, re.IGNORECASE)]


async def post_done(client, world, assignment_id, responses=THOUGHT_RECORD):
    response = await client.post(
        f"/v1/assignments/{assignment_id}/completions",
        headers=world.auth("client"),
        json={"completed_at": utcnow().isoformat(), "status": "done", "responses": responses},
    )
    assert response.status_code == 201, response.text
    return response


async def held(db, client_id) -> dict[str, int]:
    db.expunge_all()
    return dict(
        (
            await db.execute(
                select(Achievement.key, func.count())
                .where(Achievement.client_id == client_id)
                .group_by(Achievement.key)
            )
        ).all()
    )


async def test_a_first_completion_awards_with_one_insert_each_and_no_savepoint(
    client, world, app, db
):
    with statements(app) as seen:
        await post_done(client, world, world.assignment.id)
    assert len(matching(seen, r"FROM achievement")) == 1
    assert len(matching(seen, r"^INSERT INTO achievement .* ON CONFLICT")) == 2
    assert matching(seen, r"^SAVEPOINT") == []
    if app.state.engine.dialect.name == "postgresql":
        # Sent with the commit's statement, with the events and the audit row.
        (commit,) = matching(seen, r"INSERT INTO completion")
        assert "INSERT INTO event_queue" in commit and "INSERT INTO audit_event" in commit
    else:
        inserted = matching(seen, r"^INSERT INTO completion .* ON CONFLICT DO NOTHING RETURNING")
        assert len(inserted) == 1
    assert len(matching(seen, r"FROM assignment_schedule")) == 1
    assert await held(db, world.client.id) == {
        "first_completion": 1,
        "first_of_kind:cbt_worksheet": 1,
    }
    earned = (
        await db.execute(select(Event.payload).where(Event.type == "achievement.earned"))
    ).scalars()
    assert sorted(p["key"] for p in earned) == ["first_completion", "first_of_kind:cbt_worksheet"]


async def test_a_later_completion_inserts_no_achievement_it_holds(client, world, app, db):
    await post_done(client, world, world.assignment.id)
    with statements(app) as seen:
        await post_done(client, world, world.assignment.id)
    assert matching(seen, r"^INSERT INTO achievement") == []
    # One statement reads the context: the assignment, the client's assignments and their
    # timelines (for the occurrence and the streak), what the client holds and the done days.
    (context,) = matching(seen, r"FROM achievement")
    for table in ("assignment", "assignment_schedule", "assignment_pause", "completion"):
        assert f"FROM {table} " in context
    assert matching(seen, r"FROM assignment_schedule") == [context]
    assert matching(seen, r"SELECT DISTINCT completion") == []  # the done days came along
    if app.state.engine.dialect.name == "postgresql":
        # The context, then the completion, its audit row and its events in one statement,
        # alone in autocommit (no BEGIN, no COMMIT): two round trips. The principal check
        # was remembered from the first POST.
        assert [s.split()[0] for s in seen] == ["WITH", "WITH"]
        for table in ("completion", "audit_event", "event_queue"):
            assert f"INSERT INTO {table} " in seen[-1]
    assert await held(db, world.client.id) == {
        "first_completion": 1,
        "first_of_kind:cbt_worksheet": 1,
    }


async def test_a_template_version_is_read_once_per_process(client, world, app, db, monkeypatch):
    diary = await make_assignment(db, world.therapist, world.client, template_id=world.template.id)
    await db.commit()
    monkeypatch.setattr(repository, "_PARSED", {})  # as in a process that never met it
    answers = {"bedtime": "23:15", "rested": 6}
    with statements(app) as first:
        body = (await post_done(client, world, diary.id, answers)).json()
    assert body["responses"] == answers
    with statements(app) as second:
        await post_done(client, world, diary.id, answers)
    assert len(matching(first, r"FROM template_version")) == 1
    assert matching(second, r"FROM template_version") == []
    bad = await client.post(
        f"/v1/assignments/{diary.id}/completions",
        headers=world.auth("client"),
        json={"completed_at": utcnow().isoformat(), "status": "done", "responses": {"rested": 11}},
    )
    assert bad.status_code == 422  # the cached definition still validates


async def test_award_inserts_once_and_emits_one_event(client, world, db):
    args = {
        "clinic_id": world.clinic.id,
        "client_id": world.client.id,
        "type_": AchievementType.goal_achieved,
        "key": "goal_achieved:test",
        "title": "Goal reached: test",
    }
    first = await award(db, **args)
    second = await award(db, **args)
    await db.commit()
    assert first is not None and first.key == "goal_achieved:test"
    assert second is None
    assert await held(db, world.client.id) == {"goal_achieved:test": 1}
    events = (
        (await db.execute(select(Event.payload).where(Event.type == "achievement.earned")))
        .scalars()
        .all()
    )
    assert [(e["key"], e["id"]) for e in events] == [("goal_achieved:test", str(first.id))]


async def test_a_batch_emits_the_events_of_its_stored_items_despite_a_refused_one(
    client, world, db
):
    # Each item runs in a savepoint; events wait for the request's commit, and a refused
    # item's rollback must drop only what it queued itself.
    def item(**extra):
        return {
            "assignment_id": str(world.assignment.id),
            "completed_at": utcnow().isoformat(),
            "status": "done",
            "responses": THOUGHT_RECORD,
        } | extra

    response = await client.post(
        "/v1/completions/batch",
        headers=world.auth("client"),
        json={"items": [item(), item(mood_before=42), item()]},
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == [201, 422, 201]
    db.expunge_all()
    events = (
        await db.execute(select(Event.type, Event.resource_id).order_by(Event.sequence))
    ).all()
    stored = [uuid.UUID(results[0]["id"]), uuid.UUID(results[2]["id"])]
    assert [e.resource_id for e in events if e.type == "completion.created"] == stored
    assert sorted(e.type for e in events) == [
        "achievement.earned",
        "achievement.earned",
        "completion.created",
        "completion.created",
    ]


async def test_a_first_attempt_and_its_retry_answer_the_same(client, world, app):
    body = {
        "id": str(uuid.uuid4()),
        "completed_at": utcnow().isoformat(),
        "status": "done",
        "responses": THOUGHT_RECORD,
        "note": "first try",
    }
    url = f"/v1/assignments/{world.assignment.id}/completions"
    with statements(app) as seen:
        first = await client.post(url, headers=world.auth("client"), json=body)
    assert first.status_code == 201, first.text
    assert matching(seen, r"FROM completion WHERE completion.id") == []  # no lookup first
    stored = first.json()
    assert (stored["id"], stored["note"], stored["version"]) == (body["id"], "first try", 1)
    assert stored["created_at"] and stored["updated_at"]
    again = await client.post(url, headers=world.auth("client"), json=body)
    assert (again.status_code, again.json()) == (200, stored)
    assert again.headers["location"] == first.headers["location"]
    changed = await client.post(url, headers=world.auth("client"), json=body | {"note": "x"})
    assert changed.status_code == 409
    assert changed.json()["existing_id"] == body["id"]


async def test_a_retry_is_answered_even_after_the_assignment_was_paused(client, world):
    body = {
        "id": str(uuid.uuid4()),
        "completed_at": utcnow().isoformat(),
        "status": "skipped",
        "skip_reason": "forgot",
    }
    url = f"/v1/assignments/{world.assignment.id}/completions"
    first = await client.post(url, headers=world.auth("client"), json=body)
    assert first.status_code == 201, first.text
    paused = await client.patch(
        f"/v1/assignments/{world.assignment.id}",
        headers=world.auth("therapist"),
        json={"status": "paused"},
    )
    assert paused.status_code == 200, paused.text
    again = await client.post(url, headers=world.auth("client"), json=body)
    assert (again.status_code, again.json()) == (200, first.json())
    fresh = await client.post(
        url, headers=world.auth("client"), json=body | {"id": str(uuid.uuid4())}
    )
    assert fresh.status_code == 409
    assert fresh.json()["type"].endswith("assignment-not-active")


async def test_a_retry_of_a_timed_occurrence_is_answered_and_a_rival_refused(client, world, db):
    timed = await make_assignment(
        db,
        world.therapist,
        world.client,
        schedule={
            "start_date": (utcnow() - timedelta(days=3)).date().isoformat(),
            "rrule": "FREQ=DAILY",
            "times": ["08:00"],
        },
    )
    await db.commit()
    day = (utcnow() - timedelta(days=1)).astimezone(ZoneInfo(world.client.timezone)).date()
    body = {
        "id": str(uuid.uuid4()),
        "completed_at": utcnow().isoformat(),
        "status": "skipped",
        "skip_reason": "no_time",
        "occurrence_date": str(day),
    }
    url = f"/v1/assignments/{timed.id}/completions"
    first = await client.post(url, headers=world.auth("client"), json=body)
    assert first.status_code == 201, first.text
    assert first.json()["occurrence_time"] == "08:00"
    again = await client.post(url, headers=world.auth("client"), json=body)
    assert (again.status_code, again.json()) == (200, first.json())
    rival = await client.post(
        url, headers=world.auth("client"), json=body | {"id": str(uuid.uuid4())}
    )
    assert rival.status_code == 409
    assert rival.json()["existing_id"] == body["id"]


async def test_an_id_taken_in_another_clinic_is_refused_and_left_untouched(client, world, db):
    from tests.factories import make_completion

    theirs = await make_assignment(db, world.other_therapist, world.other_client)
    taken = await make_completion(db, world.other_client, theirs)
    await db.commit()
    response = await client.post(
        f"/v1/assignments/{world.assignment.id}/completions",
        headers=world.auth("client"),
        json={
            "id": str(taken.id),
            "completed_at": utcnow().isoformat(),
            "status": "skipped",
            "skip_reason": "forgot",
        },
    )
    assert response.status_code == 409
    assert "existing_id" not in response.json()  # nothing points at the other clinic's row
    db.expunge_all()
    assert (await db.get(Completion, taken.id)).client_id == world.other_client.id


async def test_a_retry_sent_at_commit_runs_again_and_answers_the_stored_completion(
    client, world, app, db
):
    body = {
        "id": str(uuid.uuid4()),
        "completed_at": utcnow().isoformat(),
        "status": "done",
        "responses": THOUGHT_RECORD,
    }
    url = f"/v1/assignments/{world.assignment.id}/completions"
    first = await client.post(url, headers=world.auth("client"), json=body)
    assert first.status_code == 201, first.text
    with statements(app) as seen:
        again = await client.post(url, headers=world.auth("client"), json=body)
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    if app.state.engine.dialect.name == "postgresql":
        # The commit's statement failed on the stored id, so the request ran again with the
        # INSERT sent at once, which found the completion and answered it.
        assert len(matching(seen, r"^WITH .*INSERT INTO completion ")) == 1
        assert len(matching(seen, r"^INSERT INTO completion .* ON CONFLICT DO NOTHING")) == 1
    completion_id = uuid.UUID(body["id"])
    stored = select(func.count()).select_from(Completion).where(Completion.id == completion_id)
    assert (await db.execute(stored)).scalar_one() == 1
    created = select(func.count()).where(
        Event.type == "completion.created", Event.resource_id == completion_id
    )
    assert (await db.execute(created)).scalar_one() == 1
