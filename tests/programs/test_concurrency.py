"""Concurrent completions of one step release the next step exactly once (the point of this
module is PostgreSQL, where the requests really overlap; SQLite serializes them)."""

import asyncio

from app.core.time import utcnow
from tests.programs.conftest import (
    AFTER,
    IMMEDIATELY,
    THOUGHT_RECORD,
    count_events,
    enrol,
    get_enrolment,
    make_program,
    states,
    step,
    step_assignments,
)


async def test_concurrent_completions_release_the_next_step_once(client, world, db):
    # Untimed occurrences: a day takes any number of completions, so all of them are stored.
    program = await make_program(
        client,
        world,
        [step(IMMEDIATELY, completed_when={"type": "completions", "count": 3}), step(AFTER)],
    )
    for _ in range(3):
        enrolment = await enrol(client, world, program["id"])
        url = f"/v1/assignments/{enrolment['steps'][0]['assignment_id']}/completions"
        body = {"completed_at": utcnow().isoformat(), "status": "done", "responses": THOUGHT_RECORD}
        answers = await asyncio.gather(
            *(client.post(url, headers=world.auth("client"), json=body) for _ in range(8))
        )
        assert [r.status_code for r in answers] == [201] * 8
        after = await get_enrolment(client, world, enrolment["id"])
        assert states(after) == ["completed", "released"]
        assert after["steps"][0]["completions_done"] == 8
        assert len(await step_assignments(db, enrolment["id"])) == 2
    assert await count_events(db, "program.step_released") == 6
