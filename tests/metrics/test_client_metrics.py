"""Client metrics on hand-built histories: every number checked exactly."""

import uuid
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from app.assignments.models import AssignmentPause
from app.auth.models import User
from app.completions.models import Completion
from app.core.passwords import hash_secret
from app.metrics.schemas import Granularity
from app.metrics.service import client_metrics
from app.templates.library import get_builtin
from tests.factories import make_assignment, make_goal, principal_of

NY = ZoneInfo("America/New_York")


def local(day: int, hour: int = 12, minute: int = 0, month: int = 3, tz=NY) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=tz).astimezone(UTC)


def completion(assignment, day, status="done", at=None, month=3, **fields) -> Completion:
    return Completion(
        clinic_id=assignment.clinic_id,
        client_id=assignment.client_id,
        assignment_id=assignment.id,
        template_id=assignment.template_id,
        template_version_id=assignment.template_version_id,
        template_version=assignment.template_version,
        template_kind=assignment.template_kind,
        occurrence_date=date(2026, month, day),
        occurrence_time=at,
        status=status,
        completed_at=local(day, month=month),
        responses={},
        request_hash=hash_secret(str(uuid.uuid4())),
        **fields,
    )


@pytest.fixture
async def history(db, world):
    """Two weeks of a New York client: a daily thought record (paused two days), a breathing
    practice Mon/Wed/Fri at 08:00 and a Sunday PHQ-9."""
    client = world.client
    await db.execute(update(User).where(User.id == client.id).values(timezone="America/New_York"))
    daily = await make_assignment(
        db,
        world.therapist,
        client,
        schedule={"start_date": "2026-03-02", "end_date": "2026-03-15", "rrule": "FREQ=DAILY"},
    )
    breathing = await make_assignment(
        db,
        world.therapist,
        client,
        slug="breathing-exercise",
        schedule={
            "start_date": "2026-03-02",
            "rrule": "FREQ=WEEKLY;BYDAY=MO,WE,FR",
            "times": ["08:00"],
        },
    )
    phq = await make_assignment(
        db,
        world.therapist,
        client,
        slug="phq-9",
        schedule={
            "start_date": "2026-03-02",
            "end_date": "2026-03-15",
            "rrule": "FREQ=WEEKLY;BYDAY=SU",
        },
    )
    for assignment in (daily, breathing, phq):
        assignment.first_date = date(2026, 3, 2)  # created "today", scheduled from March
    moods = {2: (3, 5, 60), 3: (4, 6, 50), 4: (2, 2, 55), 5: (5, 8, 40), 6: (3, 4, 30)}
    for day, (before, after, discomfort) in moods.items():
        db.add(
            completion(
                daily,
                day,
                mood_before=before,
                mood_after=after,
                discomfort=discomfort,
                duration_minutes=10,
            )
        )
    db.add(completion(daily, 7, "skipped", skip_reason="no_time"))
    db.add(completion(daily, 8, "skipped", skip_reason="forgot"))
    for day in (2, 6):
        db.add(completion(breathing, day, at="08:00", duration_minutes=5))
    db.add(completion(breathing, 11, at="08:00", duration_minutes=5, discomfort=20))
    db.add(completion(breathing, 4, "skipped", at="08:00", skip_reason="low_motivation"))
    db.add(completion(phq, 8, score_total=15, score_band="moderately_severe"))
    db.add(completion(phq, 15, score_total=9, score_band="mild"))
    for paused in (daily, breathing):
        db.add(
            AssignmentPause(
                clinic_id=paused.clinic_id,
                assignment_id=paused.id,
                paused_at=local(12, 6),
                resumed_at=local(14, 6),
            )
        )
    goal = await make_goal(db, world.therapist, client, steps=["One", "Two", "Three"])
    await db.commit()
    from app.goals.schemas import StepUpdate
    from app.goals.service import steps_of, update_step

    first = (await steps_of(db, [goal.id]))[goal.id][0]
    await update_step(db, goal, first, StepUpdate(done=True))
    await db.commit()
    client = await db.get(User, client.id, populate_existing=True)
    return client, daily, breathing, phq


async def metrics(db, client, granularity=Granularity.week):
    return await client_metrics(
        db, client, date(2026, 3, 2), date(2026, 3, 15), granularity, local(16, 8)
    )


async def test_adherence_counts_each_occurrence_exactly(db, history):
    client, daily, breathing, _phq = history
    m = await metrics(db, client)
    a = m.adherence
    assert (a.scheduled, a.completed, a.skipped, a.missed, a.paused) == (22, 10, 3, 6, 3)
    assert a.rate == round(10 / 19, 4)
    by_assignment = {x.assignment_id: x for x in a.by_assignment}
    d = by_assignment[daily.id]
    assert (d.scheduled, d.completed, d.skipped, d.missed, d.paused, d.rate) == (
        14,
        5,
        2,
        5,
        2,
        round(5 / 12, 4),
    )
    b = by_assignment[breathing.id]
    assert (b.scheduled, b.completed, b.skipped, b.missed, b.paused, b.rate) == (6, 3, 1, 1, 1, 0.6)
    assert {k.template_kind: k.rate for k in a.by_kind} == {
        "cbt_worksheet": round(5 / 12, 4),
        "mindfulness": 0.6,
        "measure": 1.0,
    }


async def test_streaks_follow_the_documented_rule(db, history):
    client, *_ = history
    m = await metrics(db, client)
    # Mar 2-3 and 5-6 count; Sunday the 8th counts (a PHQ-9 done on an untimed-only day);
    # the 15th counts the same way; the 14th broke the run before it.
    assert (m.streaks.longest, m.streaks.current) == (2, 1)
    assert "every timed occurrence" in m.streaks.rule


async def test_mood_discomfort_minutes_and_skips(db, history):
    client, *_ = history
    m = await metrics(db, client)
    assert (m.mood.average_before, m.mood.average_after) == (3.4, 5.0)
    assert (m.mood.average_change, m.mood.completions_with_both) == (1.6, 5)
    assert m.discomfort.average == 42.5
    assert (m.discomfort.change, m.discomfort.trend) == (-27.0, "falling")
    assert m.minutes_practised == 65
    assert m.skip_reasons == {"no_time": 1, "forgot": 1, "low_motivation": 1}


async def test_measures_series_and_change(db, history):
    client, *_ = history
    (phq,) = (await metrics(db, client)).measures
    assert [(p.date.day, p.total, p.band) for p in phq.series] == [
        (8, 15, "moderately_severe"),
        (15, 9, "mild"),
    ]
    assert phq.change == -6 and phq.title == get_builtin("phq-9").definition.title


async def test_goals_summary(db, history):
    client, *_ = history
    goals = (await metrics(db, client)).goals
    assert (goals.active, goals.achieved, goals.average_step_progress) == (1, 0, round(1 / 3, 4))


async def test_weekly_series(db, history):
    client, *_ = history
    series = (await metrics(db, client)).series
    assert [(p.period_start.day, p.period_end.day) for p in series] == [(2, 8), (9, 15)]
    assert [(p.scheduled, p.completed, p.rate) for p in series] == [
        (11, 8, round(8 / 11, 4)),
        (11, 2, 0.25),
    ]
    assert [p.mood_change for p in series] == [1.6, None]
    daily = (await metrics(db, client, Granularity.day)).series
    assert len(daily) == 14 and daily[0].completed == 2


async def test_a_late_evening_completion_counts_for_its_local_day_across_dst(
    db, world, monkeypatch
):
    """Auckland leaves daylight time on 2026-04-05. Completions at 23:30 local (the morning
    before in UTC) still make every local day count."""
    zone = ZoneInfo("Pacific/Auckland")
    await db.execute(
        update(User).where(User.id == world.client.id).values(timezone="Pacific/Auckland")
    )
    assignment = await make_assignment(
        db,
        world.therapist,
        world.client,
        schedule={"start_date": "2026-04-02", "end_date": "2026-04-08", "rrule": "FREQ=DAILY"},
    )
    assignment.first_date = date(2026, 4, 2)
    await db.commit()
    fake_now = datetime(2026, 4, 9, 12, 0, tzinfo=zone).astimezone(UTC)
    monkeypatch.setattr("app.completions.service.utcnow", lambda: fake_now)
    from app.completions.schemas import CompletionCreate
    from app.completions.service import record_completion

    example = get_builtin("thought-record").realistic_example
    for day in range(2, 9):
        at = datetime(2026, 4, day, 23, 30, tzinfo=zone)
        stored, _ = await record_completion(
            db,
            principal_of(world.client),
            assignment.id,
            CompletionCreate(completed_at=at, responses=example),
        )
        assert stored.occurrence_date == date(2026, 4, day)
        assert stored.completed_at.date() == date(2026, 4, day)  # 23:30 NZ is 10:30/11:30 UTC
    await db.commit()
    client = await db.get(User, world.client.id, populate_existing=True)
    m = await client_metrics(
        db, client, date(2026, 4, 2), date(2026, 4, 8), Granularity.day, fake_now
    )
    assert (m.streaks.current, m.streaks.longest) == (7, 7)
    assert (m.adherence.scheduled, m.adherence.completed, m.adherence.rate) == (7, 7, 1.0)
