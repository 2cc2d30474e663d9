"""The assignment list reads its page and the page's timelines (schedule segments and pauses)
in one statement, and answers each assignment as `GET /v1/assignments/{id}` does."""

from app.core.time import utcnow
from tests.factories import make_assignment
from tests.statements import statements


async def test_a_page_and_its_timelines_are_one_statement(client, world, db, app):
    therapist = world.auth("therapist")
    paused = await make_assignment(db, world.therapist, world.client)
    moved = await make_assignment(db, world.therapist, world.client)
    await db.commit()
    response = await client.patch(
        f"/v1/assignments/{paused.id}", headers=therapist, json={"status": "paused"}
    )
    assert response.status_code == 200, response.text
    response = await client.patch(
        f"/v1/assignments/{moved.id}",
        headers=therapist,
        json={"schedule": {"start_date": utcnow().date().isoformat(), "rrule": "FREQ=WEEKLY"}},
    )
    assert response.status_code == 200, response.text

    with statements(app) as seen:
        listed = await client.get(
            f"/v1/assignments?client_id={world.client.id}&limit=2", headers=therapist
        )
    assert listed.status_code == 200, listed.text
    reads = [s for s in seen if s.upper().startswith(("SELECT", "WITH"))]
    # The page with its timelines, alone: the principal check was remembered from the PATCHes.
    assert len(reads) == 1, reads
    page = listed.json()
    following = await client.get(
        f"/v1/assignments?client_id={world.client.id}&cursor={page['next_cursor']}",
        headers=therapist,
    )
    items = page["items"] + following.json()["items"]
    assert {i["id"] for i in items} == {str(world.assignment.id), str(paused.id), str(moved.id)}
    for item in items:
        one = await client.get(f"/v1/assignments/{item['id']}", headers=therapist)
        assert one.json() == item
    by_id = {i["id"]: i for i in items}
    assert by_id[str(paused.id)]["next_occurrence_at"] is None
    assert by_id[str(moved.id)]["schedule"]["rrule"] == "FREQ=WEEKLY"
