"""A completion's achievements have one owner (app/completions/achievements.py): recording
reads the completion's context in one statement (`load_context`: the assignment, the client's
assignments and their timelines, the achievements held, the done days), prepares the awards
from it with `prepare_awards` (no statement), and awards them with `grant` once the
completion is stored."""

from datetime import datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app.assignments.models import AssignmentPause
from app.assignments.repository import AssignmentNotFound
from app.auth.principal import Principal
from app.completions import achievements, service
from app.completions.achievements import CONTEXT_DAYS, HELD_TYPES, prepare_awards
from app.completions.models import Achievement
from app.completions.repository import CompletionContext, load_context
from app.core.time import utcnow
from app.templates.library import get_builtin
from tests.factories import make_assignment, make_completion
from tests.statements import statements

THOUGHT_RECORD = get_builtin("thought-record").realistic_example


def _principal(user) -> Principal:
    return Principal(user.id, user.clinic_id, user.role, frozenset())


async def _context(db, user, assignment_id) -> CompletionContext:
    today = utcnow().date()
    return await load_context(
        db,
        _principal(user),
        assignment_id,
        today - timedelta(days=CONTEXT_DAYS),
        today + timedelta(days=1),
        HELD_TYPES,
    )


def _today(context: CompletionContext):
    return utcnow().astimezone(ZoneInfo(context.assignment.schedule["timezone"])).date()


async def test_the_context_is_one_statement_and_holds_what_the_client_has(client, world, app, db):
    done = await make_completion(
        db, world.client, world.assignment, status="done", responses=THOUGHT_RECORD
    )
    await db.commit()
    with statements(app) as seen:
        context = await _context(db, world.client, world.assignment.id)
    assert [s for s in seen if not s.startswith("BEGIN")] == seen[-1:]
    assert context.assignment.id == world.assignment.id
    assert world.assignment.id in {a.id for a in context.assignments}
    assert (done.occurrence_date, world.assignment.id, done.occurrence_time) in context.done
    assert context.held == {"first_completion", "first_of_kind:cbt_worksheet"}
    assert context.timelines[world.assignment.id].segments  # its schedule came along


async def test_the_context_holds_the_timelines_pauses(client, world, db):
    paused_at = utcnow() - timedelta(days=3)
    resumed_at = paused_at + timedelta(days=1)
    db.add(
        AssignmentPause(
            clinic_id=world.clinic.id,
            assignment_id=world.assignment.id,
            paused_at=paused_at,
            resumed_at=resumed_at,
        )
    )
    await db.commit()
    context = await _context(db, world.client, world.assignment.id)
    timeline = context.timelines[world.assignment.id]
    assert timeline.pauses == [(paused_at, resumed_at)]
    assert [segment[0].timezone for segment in timeline.segments] == [
        context.assignment.schedule["timezone"]
    ]


async def test_another_clients_assignment_is_not_found(client, world, db):
    with pytest.raises(AssignmentNotFound):
        await _context(db, world.other_client, world.assignment.id)


async def test_a_skip_prepares_only_the_timelines_and_earns_nothing(client, world, app, db):
    context = await _context(db, world.client, world.assignment.id)
    with statements(app) as seen:
        awards = prepare_awards(context, _today(context), done=False)
    assert seen == []  # the timelines came with the context
    assert awards.held is None and awards.scheduled is None
    assert awards.timeline.occurrences(_today(context), _today(context))
    skipped = await make_completion(db, world.client, context.assignment)
    assert await awards.grant(db, skipped) == []


async def test_a_done_completion_shares_the_context_with_the_streak(client, world, app, db):
    context = await _context(db, world.client, world.assignment.id)
    with statements(app) as seen:
        awards = prepare_awards(context, _today(context), done=True)
    assert seen == []
    assert awards.scheduled is not None
    assert awards.timeline is awards.scheduled.timelines[world.assignment.id]
    assert awards.scheduled.done == context.done


async def _daily_streak(db, world, days: int, started: int, skip: int | None = None):
    """A daily assignment started `started` days ago, done each of the last `days` days before
    today but the one `skip` days back (recorded through the service, as the client would
    have); returns the assignment."""
    zone = ZoneInfo(world.client.timezone)
    today = utcnow().astimezone(zone).date()
    daily = await make_assignment(
        db,
        world.therapist,
        world.client,
        schedule={"start_date": str(today - timedelta(days=started)), "rrule": "FREQ=DAILY"},
    )
    for back in range(days, 0, -1):
        if back == skip:
            continue
        day = today - timedelta(days=back)
        await make_completion(
            db,
            world.client,
            daily,
            status="done",
            responses=THOUGHT_RECORD,
            occurrence_date=str(day),
            completed_at=datetime.combine(day, time(12, 0), zone).isoformat(),
        )
    await db.commit()
    return daily


async def test_a_streak_is_counted_back_to_its_break(client, world, db):
    """The current streak is counted over windows that grow until one holds the break: 14
    days in a row after a break earn the 3-, 7- and 14-day streaks, not the 30-day one."""
    await _daily_streak(db, world, days=14, started=20)
    streaks = {key for key in await held_keys(db, world.client.id) if key.startswith("streak:")}
    assert streaks == {"streak:3", "streak:7", "streak:14"}


async def test_a_streak_longer_than_the_context_is_read_apart(client, world, db, monkeypatch):
    """The context holds the days a 14-day streak needs; a longer one in progress is counted
    over a window read apart, and earns the 30-day streak."""
    monkeypatch.setattr(service, "OFFLINE_WINDOW", timedelta(days=60))  # record old days
    await _daily_streak(db, world, days=40, started=45)
    streaks = {key for key in await held_keys(db, world.client.id) if key.startswith("streak:")}
    assert streaks == {"streak:3", "streak:7", "streak:14", "streak:30"}


async def test_each_growing_window_reads_only_the_days_before_the_last(
    client, world, db, monkeypatch
):
    """The windows of a streak count grow back from today without reading a day twice: each
    one adds the days before the last, and together they reach the largest lookback."""
    windows = []
    client_days = achievements.client_days

    async def recorded(session, client_id, start, end, scheduled=None):
        windows.append((start, end))
        return await client_days(session, client_id, start, end, scheduled)

    monkeypatch.setattr(achievements, "client_days", recorded)
    monkeypatch.setattr(service, "OFFLINE_WINDOW", timedelta(days=60))
    await _daily_streak(db, world, days=40, started=45)
    last = windows[-4:]  # the last completion: a streak of 40 days, its widest windows
    assert [start for start, _ in last] == sorted((start for start, _ in last), reverse=True)
    for (newer_start, _), (_, older_end) in pairwise(last):
        assert older_end == newer_start - timedelta(days=1)


async def held_keys(db, client_id) -> set[str]:
    rows = await db.execute(select(Achievement.key).where(Achievement.client_id == client_id))
    return set(rows.scalars())


async def test_a_completion_filling_a_gap_before_the_context_completes_a_long_streak(
    client, world, db, monkeypatch
):
    """The completion counts in the windows read apart too, though it is stored only with the
    commit: filling a gap 39 days back (before the context's days) makes a 46-day streak."""
    monkeypatch.setattr(achievements, "STREAKS", (3, 7, 14, 30, 45))
    monkeypatch.setattr(service, "OFFLINE_WINDOW", timedelta(days=60))
    daily = await _daily_streak(db, world, days=46, started=50, skip=39)
    gap = utcnow().astimezone(ZoneInfo(world.client.timezone)).date() - timedelta(days=39)
    assert CONTEXT_DAYS < 39  # the gap lies before the context's days
    assert "streak:45" not in await held_keys(db, world.client.id)
    filled = await client.post(
        f"/v1/assignments/{daily.id}/completions",
        headers=world.auth("client"),
        json={
            "completed_at": utcnow().isoformat(),
            "occurrence_date": str(gap),
            "status": "done",
            "responses": THOUGHT_RECORD,
        },
    )
    assert filled.status_code == 201, filled.text
    client_id = world.client.id
    await db.rollback()  # a fresh snapshot
    assert "streak:45" in await held_keys(db, client_id)
