"""Release rules: each one on both engines, in the client's local days across a DST change,
the worker's rounds (a crash mid-release rolls back and the next round releases once), and
what a completion costs when it releases nothing."""

import re
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, update

from app.programs import release
from app.programs.models import Enrolment, EnrolmentStep
from app.programs.release import Progress, local_midnight
from app.programs.repository import Definition
from app.programs.schemas import StoredStep
from tests.factories import make_assignment
from tests.programs.conftest import (
    AFTER,
    IMMEDIATELY,
    THOUGHT_RECORD,
    complete,
    count_events,
    enrol,
    get_enrolment,
    local_today,
    make_program,
    midnight,
    states,
    step,
    step_assignments,
    worker,
)
from tests.statements import statements

COUNT_1 = {"type": "completions", "count": 1}


def z(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def test_after_previous_completed_with_n_completions_releases_in_the_completion(
    client, world, db
):
    program = await make_program(
        client,
        world,
        [step(IMMEDIATELY, completed_when={"type": "completions", "count": 2}), step(AFTER)],
    )
    enrolment = await enrol(client, world, program["id"])
    first = enrolment["steps"][0]["assignment_id"]
    await complete(client, world, first)
    after_one = await get_enrolment(client, world, enrolment["id"])
    assert states(after_one) == ["released", "locked"]
    assert after_one["steps"][0]["completions_done"] == 1
    await complete(client, world, first)
    # Released by the completion itself: no worker ran.
    after_two = await get_enrolment(client, world, enrolment["id"])
    assert states(after_two) == ["completed", "released"]
    assert after_two["steps"][0]["completions_done"] == 2
    assert len(await step_assignments(db, enrolment["id"])) == 2
    assert await count_events(db, "program.step_released") == 2
    # A third completion of step 1 changes nothing more.
    await complete(client, world, first)
    assert len(await step_assignments(db, enrolment["id"])) == 2


async def test_after_previous_completed_on_the_last_occurrence(client, world, db):
    # Step 1: one occurrence today (no rrule) at 23:59 and 00:00, two a day: the last is done.
    single = step(IMMEDIATELY, schedule={"times": ["00:00", "23:59"]})
    program = await make_program(client, world, [single, step(AFTER)])
    enrolment = await enrol(client, world, program["id"])
    first = enrolment["steps"][0]["assignment_id"]
    await complete(client, world, first, occurrence_time="00:00")
    assert states(await get_enrolment(client, world, enrolment["id"])) == ["released", "locked"]
    await complete(client, world, first, occurrence_time="23:59")
    assert states(await get_enrolment(client, world, enrolment["id"])) == [
        "completed",
        "released",
    ]


async def test_a_skip_completes_nothing(client, world):
    program = await make_program(
        client, world, [step(IMMEDIATELY, completed_when=COUNT_1), step(AFTER)]
    )
    enrolment = await enrol(client, world, program["id"])
    response = await client.post(
        f"/v1/assignments/{enrolment['steps'][0]['assignment_id']}/completions",
        headers=world.auth("client"),
        json={
            "completed_at": enrolment["created_at"],
            "status": "skipped",
            "skip_reason": "forgot",
        },
    )
    assert response.status_code == 201
    after = await get_enrolment(client, world, enrolment["id"])
    assert states(after) == ["released", "locked"]
    assert after["steps"][0]["completions_done"] == 0


async def test_days_after_previous_completed_counts_the_clients_local_days(client, world, app, db):
    later = {"type": "days_after_previous_completed", "days": 2}
    program = await make_program(
        client, world, [step(IMMEDIATELY, completed_when=COUNT_1), step(later)]
    )
    enrolment = await enrol(client, world, program["id"])
    await complete(client, world, enrolment["steps"][0]["assignment_id"])
    after = await get_enrolment(client, world, enrolment["id"])
    assert states(after) == ["completed", "locked"]
    tz = world.client.timezone  # America/New_York
    done_on = release.local_day(datetime.fromisoformat(after["steps"][0]["finished_at"]), tz)
    due = midnight(done_on + timedelta(days=2), tz)
    assert after["steps"][1]["releases_at"] == z(due)
    assert after["next_release"] == {
        "position": 2,
        "releases_at": z(due),
        "waiting_for": "2 days after step 1 completed or skipped (1 done completions)",
    }
    assert await worker(app, now=due - timedelta(microseconds=1)) == 0
    assert await worker(app, now=due) == 1
    assert await worker(app, now=due + timedelta(days=1)) == 0  # once
    released = await get_enrolment(client, world, enrolment["id"])
    assert states(released) == ["completed", "released"]
    assignments = await step_assignments(db, enrolment["id"])
    assert assignments[1].first_date == done_on + timedelta(days=2)


async def test_on_date_releases_at_local_midnight_of_that_date(client, world, app, db):
    tz = world.client.timezone
    day = local_today(tz) + timedelta(days=3)
    program = await make_program(
        client, world, [step(IMMEDIATELY), step({"type": "on_date", "date": day.isoformat()})]
    )
    enrolment = await enrol(client, world, program["id"])
    due = midnight(day, tz)
    assert enrolment["steps"][1]["releases_at"] == z(due)
    assert enrolment["next_release"]["waiting_for"] == day.isoformat()
    assert await worker(app, now=due - timedelta(seconds=1)) == 0
    assert await worker(app, now=due) == 1
    assert states(await get_enrolment(client, world, enrolment["id"])) == ["released", "released"]


async def test_on_enrolment_day_follows_the_clients_zone_across_dst(client, world, app, db):
    """Day 3 and day 4 of an enrolment that starts on Friday 26 March 2027 in Berlin: clocks go
    forward on Sunday the 28th, so day 4 begins 23 hours after day 3, at 22:00 UTC."""
    program = await make_program(
        client,
        world,
        [
            step(IMMEDIATELY),
            step({"type": "on_enrolment_day", "day": 3}),
            step({"type": "on_enrolment_day", "day": 4}),
        ],
    )
    enrolment = await enrol(client, world, program["id"])
    # The enrolment as if made on 26 March 2027 by a client in Berlin (arranged behind the API).
    await db.execute(
        update(Enrolment)
        .where(Enrolment.id == uuid.UUID(enrolment["id"]))
        .values(
            started_on=date(2027, 3, 26),
            timezone="Europe/Berlin",
            next_release_at=datetime(2027, 3, 27, 23, tzinfo=UTC),
        )
    )
    await db.commit()
    shown = await get_enrolment(client, world, enrolment["id"])
    assert [s["releases_at"] for s in shown["steps"][1:]] == [
        "2027-03-27T23:00:00Z",
        "2027-03-28T22:00:00Z",
    ]
    assert await worker(app, now=datetime(2027, 3, 27, 22, 59, tzinfo=UTC)) == 0
    assert await worker(app, now=datetime(2027, 3, 28, 21, 59, tzinfo=UTC)) == 1
    assert states(await get_enrolment(client, world, enrolment["id"])) == [
        "released",
        "released",
        "locked",
    ]
    assert await worker(app, now=datetime(2027, 3, 28, 22, 0, tzinfo=UTC)) == 1
    assignments = await step_assignments(db, enrolment["id"])
    # Each step starts on its own local day, in the enrolment's zone.
    assert [a.first_date for a in assignments[1:]] == [date(2027, 3, 28), date(2027, 3, 29)]
    assert {a.schedule["timezone"] for a in assignments[1:]} == {"Europe/Berlin"}


def test_local_midnight_in_zones_far_apart_and_on_dst_days():
    assert local_midnight(date(2027, 3, 28), "Europe/Berlin") == datetime(
        2027, 3, 27, 23, tzinfo=UTC
    )
    assert local_midnight(date(2027, 3, 29), "Europe/Berlin") == datetime(
        2027, 3, 28, 22, tzinfo=UTC
    )
    assert local_midnight(date(2026, 12, 5), "Pacific/Auckland") == datetime(
        2026, 12, 4, 11, tzinfo=UTC
    )
    assert local_midnight(date(2026, 12, 5), "America/Los_Angeles") == datetime(
        2026, 12, 5, 8, tzinfo=UTC
    )
    # São Paulo once skipped midnight itself (DST began at 00:00 on 4 November 2018).
    assert local_midnight(date(2018, 11, 4), "America/Sao_Paulo") == datetime(
        2018, 11, 4, 3, tzinfo=UTC
    )


def test_day_n_is_counted_in_the_enrolments_zone():
    def enrolment(timezone):
        return Enrolment(started_on=date(2026, 12, 4), timezone=timezone)

    definition = Definition(
        title="t",
        description="",
        steps=[
            StoredStep.model_validate(
                step({"type": "on_enrolment_day", "day": 2}) | {"template_version": 1, "title": "x"}
            )
        ],
    )
    auckland = Progress(enrolment("Pacific/Auckland"), definition, {})
    los_angeles = Progress(enrolment("America/Los_Angeles"), definition, {})
    assert auckland.due_at(1) == datetime(2026, 12, 4, 11, tzinfo=UTC)
    assert los_angeles.due_at(1) == datetime(2026, 12, 5, 8, tzinfo=UTC)


async def test_a_step_that_ends_when_the_next_starts(client, world, app, db):
    program = await make_program(
        client,
        world,
        [
            step(IMMEDIATELY, completed_when=COUNT_1, ends_when_next_starts=True),
            step({"type": "on_enrolment_day", "day": 2}),
        ],
    )
    enrolment = await enrol(client, world, program["id"])
    due = datetime.fromisoformat(enrolment["steps"][1]["releases_at"])
    assert await worker(app, now=due) == 1
    after = await get_enrolment(client, world, enrolment["id"])
    # Ended before it was completed: skipped.
    assert states(after) == ["skipped", "released"]
    assert [a.status for a in await step_assignments(db, enrolment["id"])] == [
        "completed",
        "active",
    ]


async def test_a_crash_mid_release_rolls_back_and_the_next_round_releases_once(
    client, world, app, db, monkeypatch
):
    program = await make_program(
        client, world, [step(IMMEDIATELY), step({"type": "on_enrolment_day", "day": 2})]
    )
    enrolment = await enrol(client, world, program["id"])
    due = datetime.fromisoformat(enrolment["steps"][1]["releases_at"])
    before = await count_events(db, "program.step_released")

    def crash(*args, **kwargs):
        raise RuntimeError("worker killed mid-release")

    # After the step's row and its assignment are written, before the event: the worst place.
    monkeypatch.setattr(release, "record_event", crash)
    with pytest.raises(RuntimeError):
        await worker(app, now=due)
    monkeypatch.undo()
    assert len(await step_assignments(db, enrolment["id"])) == 1
    assert (
        await db.scalar(
            select(EnrolmentStep.id).where(
                EnrolmentStep.enrolment_id == uuid.UUID(enrolment["id"]),
                EnrolmentStep.position == 2,
            )
        )
        is None
    )
    assert await worker(app, now=due) == 1
    assert await worker(app, now=due) == 0
    assert len(await step_assignments(db, enrolment["id"])) == 2
    assert await count_events(db, "program.step_released") == before + 1


async def test_two_workers_release_a_step_once(client, world, app, db):
    import asyncio

    program = await make_program(
        client, world, [step(IMMEDIATELY), step({"type": "on_enrolment_day", "day": 2})]
    )
    enrolments = [await enrol(client, world, program["id"]) for _ in range(3)]
    due = datetime.fromisoformat(enrolments[0]["steps"][1]["releases_at"])
    counts = await asyncio.gather(*(worker(app, now=due) for _ in range(3)))
    assert sum(counts) == 3
    for enrolment in enrolments:
        assert len(await step_assignments(db, enrolment["id"])) == 2
    assert await count_events(db, "program.step_released") == 6


async def test_a_completion_that_releases_nothing_costs_at_most_one_round_trip_more(
    client, world, app, db
):
    plain = await make_assignment(db, world.therapist, world.client)
    await db.commit()
    program = await make_program(
        client,
        world,
        [step(IMMEDIATELY, completed_when={"type": "completions", "count": 3}), step(AFTER)],
    )
    enrolment = await enrol(client, world, program["id"])
    await complete(client, world, plain.id)  # the first completion's awards are behind us
    with statements(app) as outside:
        await complete(client, world, plain.id)
    with statements(app) as in_program:
        await complete(client, world, enrolment["steps"][0]["assignment_id"])
    # Homework outside a program does not even ask.
    assert not [s for s in outside if re.search(r"enrolment_step|FROM enrolment", s)]
    extra = [s for s in in_program if re.search(r"enrolment_step", s)]
    assert len(extra) == 1 and extra[0].startswith("UPDATE enrolment_step SET done_count")
    assert len(in_program) <= len(outside) + 1


async def test_the_background_worker_round_releases_due_steps(client, world, app, db):
    from app.sync.worker import Worker

    program = await make_program(
        client, world, [step(IMMEDIATELY), step({"type": "on_enrolment_day", "day": 2})]
    )
    enrolment = await enrol(client, world, program["id"])
    # Enrolled yesterday (arranged behind the API): day 2 is today.
    tz = world.client.timezone
    yesterday = local_today(tz) - timedelta(days=1)
    await db.execute(
        update(Enrolment)
        .where(Enrolment.id == uuid.UUID(enrolment["id"]))
        .values(started_on=yesterday, next_release_at=midnight(yesterday + timedelta(days=1), tz))
    )
    await db.commit()
    await Worker(app.state.sessionmaker).run_once()
    assert states(await get_enrolment(client, world, enrolment["id"])) == ["released", "released"]


async def test_a_step_whose_assignment_a_therapist_cancelled_is_skipped_and_the_next_released(
    client, world, app, db
):
    """Cancelling a step's assignment by hand does not leave the enrolment stuck: the worker
    skips the step (as an optional step's skip) and releases what waited for it."""
    program = await make_program(client, world, [step(IMMEDIATELY), step(AFTER)])
    enrolment = await enrol(client, world, program["id"])
    first = enrolment["steps"][0]["assignment_id"]
    cancelled = await client.patch(
        f"/v1/assignments/{first}",
        headers=world.auth("therapist"),
        json={"status": "cancelled"},
    )
    assert cancelled.status_code == 200, cancelled.text
    assert await worker(app) == 1
    after = await get_enrolment(client, world, enrolment["id"])
    assert states(after) == ["skipped", "released"]
    assert await worker(app) == 0  # once
    assert await count_events(db, "program.step_released") == 2


async def test_editing_a_steps_completion_between_done_and_skipped_recounts_it(
    client, world, app, db
):
    """A done completion edited to skipped no longer counts toward `completions`; edited back
    to done, it counts again and may release the next step."""
    twice_a_day = {"rrule": "FREQ=DAILY", "days": 7, "times": ["08:00", "20:00"]}
    program = await make_program(
        client,
        world,
        [
            step(
                IMMEDIATELY,
                schedule=twice_a_day,
                completed_when={"type": "completions", "count": 2},
            ),
            step(AFTER),
        ],
    )
    enrolment = await enrol(client, world, program["id"])
    first = enrolment["steps"][0]["assignment_id"]
    morning = await complete(client, world, first, occurrence_time="08:00")
    skipped = await client.patch(
        f"/v1/completions/{morning['id']}",
        headers=world.auth("client"),
        json={"status": "skipped", "skip_reason": "forgot"},
    )
    assert skipped.status_code == 200, skipped.text
    await complete(client, world, first, occurrence_time="20:00")
    # One done completion counts now: step 1 still waits.
    assert states(await get_enrolment(client, world, enrolment["id"])) == ["released", "locked"]
    done_again = await client.patch(
        f"/v1/completions/{morning['id']}",
        headers=world.auth("client"),
        json={"status": "done", "responses": THOUGHT_RECORD},
    )
    assert done_again.status_code == 200, done_again.text
    assert states(await get_enrolment(client, world, enrolment["id"])) == ["completed", "released"]
