"""The keyed write's fixed costs: a never-seen Idempotency-Key is claimed in one statement on
PostgreSQL, and an assignment's schedules and pauses come back in one."""

from app.core.time import utcnow
from tests.statements import statements


def _skip() -> dict:
    return {"completed_at": utcnow().isoformat(), "status": "skipped", "skip_reason": "no_time"}


async def test_a_fresh_key_is_claimed_in_one_statement_on_postgresql(client, world, app):
    headers = {**world.auth("client"), "Idempotency-Key": "fresh-claim-1"}
    with statements(app) as seen:
        response = await client.post(
            f"/v1/assignments/{world.assignment.id}/completions", headers=headers, json=_skip()
        )
    assert response.status_code == 201, response.text
    # The answer is stored by an UPDATE that rides with the commit (a CTE on PostgreSQL).
    claims = [s for s in seen if "idempotency_key" in s and not s.startswith(("UPDATE", "WITH"))]
    if app.state.engine.dialect.name == "postgresql":
        assert len(claims) == 1 and claims[0].startswith("INSERT INTO idempotency_key")
        assert "ON CONFLICT DO NOTHING RETURNING" in claims[0]
        # The stored answer, the audit row and the events: one statement at the commit.
        last = seen[-1]
        assert last.startswith("WITH") and "UPDATE idempotency_key" in last
        assert "INSERT INTO audit_event" in last and "INSERT INTO event" in last
    else:  # SQLite: one short write transaction (look up, then insert)
        assert [s.split()[0] for s in claims] == ["SELECT", "INSERT"]


async def test_a_seen_key_still_replays(client, world):
    headers = {**world.auth("client"), "Idempotency-Key": "fresh-claim-2"}
    url = f"/v1/assignments/{world.assignment.id}/completions"
    body = _skip()
    first = await client.post(url, headers=headers, json=body)
    again = await client.post(url, headers=headers, json=body)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true" and again.content == first.content


async def test_schedules_and_pauses_are_one_statement(client, world, app):
    with statements(app) as seen:
        response = await client.get("/v1/assignments", headers=world.auth("client"))
    assert response.status_code == 200
    timelines = [s for s in seen if "assignment_schedule" in s or "assignment_pause" in s]
    assert len(timelines) == 1 and "UNION ALL" in timelines[0]
