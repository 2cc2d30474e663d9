"""A client's export holds everything about them and nothing of anyone else; erasure removes it."""

import uuid

from sqlalchemy import func, select, text

from app.core.audit import AuditEvent
from app.core.time import utcnow
from app.models import metadata
from tests.factories import make_assignment, make_completion, make_goal


async def fill(db, world):
    """Give both clients of clinic A a little of everything."""
    other_assignment = await make_assignment(db, world.therapist_other, world.client_other)
    for who, assignment, therapist in (
        (world.client, world.assignment, world.therapist),
        (world.client_other, other_assignment, world.therapist_other),
    ):
        await make_completion(
            db,
            who,
            assignment,
            status="done",
            responses={
                "situation": "x",
                "automatic_thoughts": "y",
                "emotions": [{"emotion": "fear", "intensity": 60}],
                "balanced_thought": "z",
            },
            note=f"note of {who.email}",
        )
        await make_goal(db, therapist, who)
    await db.commit()


async def test_the_export_holds_every_object_of_the_client_and_no_one_elses(client, world, db):
    await fill(db, world)
    completion_id = (await client.get("/v1/completions", headers=world.auth("client"))).json()[
        "items"
    ][0]["id"]
    await client.post(
        f"/v1/completions/{completion_id}/comments",
        headers=world.auth("client"),
        json={"body": "Can we talk about the bus?"},
    )
    response = await client.get(
        f"/v1/clients/{world.client.id}/export", headers=world.auth("client")
    )
    assert response.status_code == 200
    body = response.json()
    assert body["client"]["id"] == str(world.client.id)
    assert {a["client_id"] for a in body["assignments"]} == {str(world.client.id)}
    assert (
        len(body["completions"]) == 1
        and body["completions"][0]["note"] == f"note of {world.client.email}"
    )
    assert [c["body"] for c in body["comments"]] == ["Can we talk about the bus?"]
    assert len(body["goals"]) == 1 and body["achievements"]
    assert {v["slug"] for v in body["template_versions"]} >= {"thought-record"}
    assert body["care_team"][0]["id"] == str(world.therapist.id)
    assert "adherence" in body["metrics"]
    text_ = response.text
    for foreign in (str(world.client_other.id), world.client_other.email):
        assert foreign not in text_


async def test_erasure_leaves_nothing_but_audit_rows(client, world, db):
    await fill(db, world)
    cid = world.client.id
    token = world.auth("client")
    erased = await client.delete(f"/v1/clients/{cid}", headers=world.auth("admin"))
    assert erased.status_code == 204
    await db.rollback()
    checked = 0
    for table in metadata.sorted_tables:
        if table.name == "audit_event":
            continue
        for column in table.columns:
            if (
                column.name in ("client_id", "user_id", "id", "resource_id")
                and column.type.python_type is uuid.UUID
            ):
                checked += 1
                stmt = select(func.count()).select_from(table).where(column == cid)
                if table.name == "event" and column.name in ("client_id", "resource_id"):
                    stmt = stmt.where(table.c.type != "client.deleted")
                assert await db.scalar(stmt) == 0, f"{table.name}.{column.name}"
    assert checked > 20  # every table's id and client columns were looked at
    audit_rows = await db.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.client_id == cid)
    )
    assert audit_rows >= 1
    # The other client's data is untouched.
    assert (
        await client.get(f"/v1/clients/{world.client_other.id}", headers=world.auth("admin"))
    ).status_code == 200
    for url in (
        f"/v1/clients/{cid}",
        f"/v1/clients/{cid}/agenda",
        f"/v1/clients/{cid}/metrics",
        f"/v1/clients/{cid}/export",
        f"/v1/assignments/{world.assignment.id}",
        f"/v1/fhir/Patient/{cid}/$everything",
    ):
        assert (await client.get(url, headers=world.auth("admin"))).status_code == 404, url
    assert (await client.get("/v1/me", headers=token)).status_code == 401
    tombstone = (
        await client.get("/v1/changes?types=client.deleted", headers=world.auth("admin"))
    ).json()
    assert [e["data"] for e in tombstone["items"]] == [{"id": str(cid), "deleted": True}]
    leftovers = await db.execute(
        text("SELECT count(*) FROM event WHERE type != 'client.deleted' AND client_id IS NOT NULL")
    )
    assert leftovers.scalar() >= 1  # the other client's events stay
    assert utcnow()


async def stored_answers(db):
    from app.core.idempotency import IdempotencyRecord

    await db.rollback()  # see what the app committed since
    return (await db.execute(select(IdempotencyRecord))).scalars().all()


async def test_erasure_deletes_every_stored_answer_by_or_about_the_client(client, world, db):
    from app.templates.service import builtin_template_id

    cid = world.client.id

    async def post(who, url, body=None, status=201):
        headers = {**world.auth(who), "Idempotency-Key": f"{who}:{url}"}
        response = await client.post(url, json=body, headers=headers)
        assert response.status_code == status, (url, response.text)
        return response

    goal_body = {"client_id": str(cid), "title": "Walk to the park"}
    goal = (await post("therapist", "/v1/goals", goal_body)).json()
    await post("therapist", f"/v1/goals/{goal['id']}/steps", {"title": "Shoes by the door"})
    today = utcnow().date().isoformat()
    await post(
        "therapist",
        "/v1/assignments",
        {
            "client_id": str(cid),
            "template_id": str(builtin_template_id("thought-record")),
            "schedule": {"start_date": today, "rrule": "FREQ=DAILY"},
        },
    )
    completion = await post(
        "client",
        f"/v1/assignments/{world.assignment.id}/completions",
        {"completed_at": utcnow().isoformat(), "status": "skipped", "skip_reason": "no_time"},
    )
    comments = f"/v1/completions/{completion.json()['id']}/comments"
    await post("client", comments, {"body": "Can we talk about the bus?"})
    await post("therapist", comments, {"body": "Yes, on Monday."})
    # The client has an account already: a stored error answer, naming the client too.
    await post("therapist", f"/v1/clients/{cid}/invitations", status=409)
    answers = await stored_answers(db)
    assert len(answers) == 7
    staff = [a for a in answers if a.principal != f"user:{cid}"]
    assert {a.client_id for a in staff} == {cid}

    erased = await client.delete(f"/v1/clients/{cid}", headers=world.auth("admin"))
    assert erased.status_code == 204
    assert await stored_answers(db) == []
    replay = await client.post(
        "/v1/goals",
        json=goal_body,
        headers={**world.auth("therapist"), "Idempotency-Key": "therapist:/v1/goals"},
    )
    assert replay.status_code == 404 and "idempotent-replayed" not in replay.headers


async def test_erasure_deletes_the_stored_answer_that_created_the_client(client, world, db):
    created = await client.post(
        "/v1/clients",
        json={"email": "new.client@example.com", "display_name": "New Client"},
        headers={**world.auth("admin"), "Idempotency-Key": "create-new-client"},
    )
    assert created.status_code == 201
    code = created.json()["invitation"]["code"]
    [answer] = await stored_answers(db)
    assert code.encode() not in answer.body and b"new.client" not in answer.body
    erased = await client.delete(f"/v1/clients/{created.json()['id']}", headers=world.auth("admin"))
    assert erased.status_code == 204
    assert await stored_answers(db) == []


async def test_erasure_keeps_the_stored_answers_about_other_clients(client, world, db):
    other = await client.post(
        "/v1/goals",
        json={"client_id": str(world.client_other.id), "title": "Call a friend"},
        headers={**world.auth("therapist_other"), "Idempotency-Key": "other-goal"},
    )
    assert other.status_code == 201
    erased = await client.delete(f"/v1/clients/{world.client.id}", headers=world.auth("admin"))
    assert erased.status_code == 204
    [kept] = await stored_answers(db)
    assert kept.client_id == world.client_other.id
