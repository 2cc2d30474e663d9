"""Idempotency-Key: the first answer is stored and replayed byte for byte; one execution."""

import asyncio
import hashlib

from sqlalchemy import func, select

from app.goals.models import Goal


def goal_body(world, title="Walk to the park"):
    return {"client_id": str(world.client.id), "title": title}


async def post_goal(client, world, key, body=None, who="therapist"):
    return await client.post(
        "/v1/goals",
        json=body or goal_body(world),
        headers={**world.auth(who), "Idempotency-Key": key},
    )


async def goals(db):
    return await db.scalar(select(func.count()).select_from(Goal))


async def test_a_retry_replays_the_first_answer_byte_for_byte(client, world, db):
    first = await post_goal(client, world, "key-1")
    again = await post_goal(client, world, "key-1")
    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert again.headers["location"] == first.headers["location"]
    assert await goals(db) == 1


async def test_the_same_key_with_another_body_is_a_422(client, world, db):
    await post_goal(client, world, "key-2")
    other = await post_goal(client, world, "key-2", goal_body(world, "Something else"))
    assert other.status_code == 422
    assert other.json()["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    assert await goals(db) == 1


async def test_keys_belong_to_one_caller(client, world, db):
    await post_goal(client, world, "shared-key")
    theirs = await post_goal(client, world, "shared-key", who="admin")
    assert theirs.status_code == 201 and "idempotent-replayed" not in theirs.headers
    assert await goals(db) == 2


async def test_twenty_concurrent_posts_with_one_key_execute_once(client, world, db):
    answers = await asyncio.gather(*(post_goal(client, world, "key-20") for _ in range(20)))
    statuses = [a.status_code for a in answers]
    assert statuses.count(201) >= 1 and set(statuses) <= {201, 409}, statuses
    created = [a for a in answers if a.status_code == 201]
    assert len({a.content for a in created}) == 1  # replays are the same bytes
    assert await goals(db) == 1
    assert (await post_goal(client, world, "key-20")).headers["idempotent-replayed"] == "true"


async def test_validation_failures_are_not_stored(client, world, db):
    bad = await post_goal(client, world, "key-3", {"client_id": str(world.client.id), "title": ""})
    assert bad.status_code == 422
    fixed = await post_goal(client, world, "key-3", goal_body(world))
    assert fixed.status_code == 201 and "idempotent-replayed" not in fixed.headers


async def test_an_error_answer_is_stored_and_replayed(client, world):
    body = {"client_id": str(world.client_other.id), "title": "Not my client"}
    first = await post_goal(client, world, "key-404", body)
    again = await post_goal(client, world, "key-404", body)
    assert first.status_code == again.status_code == 404
    assert again.content == first.content and again.headers["idempotent-replayed"] == "true"


async def test_a_malformed_key_is_refused(client, world):
    response = await post_goal(client, world, "x" * 256)
    assert response.status_code == 422
    spaced = await post_goal(client, world, "has space")
    assert spaced.status_code == 422


async def test_completions_with_a_key_and_a_client_id_stay_single(client, world, db):
    from app.completions.models import Completion
    from app.core.time import utcnow

    body = {"completed_at": utcnow().isoformat(), "status": "skipped", "skip_reason": "no_time"}
    url = f"/v1/assignments/{world.assignment.id}/completions"
    answers = await asyncio.gather(
        *(
            client.post(url, json=body, headers={**world.auth("client"), "Idempotency-Key": "c-1"})
            for _ in range(10)
        )
    )
    assert {a.status_code for a in answers} <= {201, 409}
    assert await db.scalar(select(func.count()).select_from(Completion)) == 1


async def stored(db):
    from app.core.idempotency import IdempotencyRecord

    await db.rollback()  # see what the app committed since
    return (await db.execute(select(IdempotencyRecord))).scalars().all()


async def test_the_database_holds_a_hash_of_the_key_and_an_encrypted_answer(client, world, db):
    first = await post_goal(client, world, "key-at-rest", goal_body(world, "Ride the bus"))
    [record] = await stored(db)
    assert record.key == hashlib.sha256(b"key-at-rest").hexdigest()
    assert b"Ride the bus" not in record.body and first.json()["id"].encode() not in record.body
    again = await post_goal(client, world, "key-at-rest", goal_body(world, "Ride the bus"))
    assert again.content == first.content


async def test_an_api_client_secret_is_replayed_but_never_stored_in_plain_text(client, world, db):
    async def create():
        return await client.post(
            "/v1/api-clients",
            json={"name": "EHR bridge", "scopes": ["homework:read"]},
            headers={**world.auth("admin"), "Idempotency-Key": "api-client-1"},
        )

    first = await create()
    assert first.status_code == 201
    secret = first.json()["client_secret"]
    [record] = await stored(db)
    assert secret.encode() not in record.body and b"client_secret" not in record.body
    again = await create()
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["client_secret"] == secret


async def test_a_stored_answer_names_the_client_the_request_concerned(client, world, db):
    await post_goal(client, world, "about-a-client")
    [record] = await stored(db)
    assert record.client_id == world.client.id


async def test_the_replay_guard_may_refuse_a_replay_and_the_answer_stays(client, app, world, db):
    from app.core.errors import problem_response

    first = await post_goal(client, world, "guarded")

    async def refuse(request):
        return problem_response(401, slug="unauthorized", detail="The account is not active.")

    previous = getattr(app.state, "replay_guard", None)
    app.state.replay_guard = refuse
    try:
        refused = await post_goal(client, world, "guarded")
    finally:
        app.state.replay_guard = previous
    assert refused.status_code == 401 and "idempotent-replayed" not in refused.headers
    again = await post_goal(client, world, "guarded")
    assert again.content == first.content and again.headers["idempotent-replayed"] == "true"


async def test_a_deactivated_users_key_is_not_replayed(client, world):
    # The auth package's replay guard (app.state.replay_guard) refuses it.
    assert (await post_goal(client, world, "then-deactivated")).status_code == 201
    deactivated = await client.patch(
        f"/v1/users/{world.therapist.id}",
        json={"status": "deactivated"},
        headers=world.auth("admin"),
    )
    assert deactivated.status_code == 200
    replay = await post_goal(client, world, "then-deactivated")
    assert replay.status_code == 401 and "idempotent-replayed" not in replay.headers
