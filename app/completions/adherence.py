"""Adherence: each scheduled occurrence classified against the completions that answer it."""

import uuid
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Integer, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from app.assignments.models import Assignment
from app.assignments.occurrences import load_timelines
from app.assignments.recurrence import Occurrence, schedule_dates, zone_named
from app.assignments.schedules import ScheduleRead
from app.completions.models import Completion, CompletionStatus

OccurrenceKey = tuple[uuid.UUID, date, str | None]
# Every instant due on the local dates [first, today] lies within these margins of UTC midnight
# (zones run from UTC-12 to UTC+14, a spring-forward gap moves a time at most a day later).
_BEFORE = timedelta(days=2)
_AFTER = timedelta(days=3)


@dataclass
class Counts:
    """`scheduled` counts occurrences whose day is over or that were answered, paused ones
    included; `pending` are today's not yet answered (not in `scheduled`).
    rate = completed / (scheduled - paused)."""

    scheduled: int = 0
    completed: int = 0
    skipped: int = 0
    missed: int = 0
    paused: int = 0
    pending: int = 0

    @property
    def effective(self) -> int:
        return self.scheduled - self.paused

    @property
    def rate(self) -> float | None:
        return round(self.completed / self.effective, 4) if self.effective else None

    def add(self, outcome: str) -> None:
        # Today's unanswered occurrences are not scheduled *yet*: counting them would lower
        # the rate during the very day the client still has to do them.
        if outcome != "pending":
            self.scheduled += 1
        setattr(self, outcome, getattr(self, outcome) + 1)

    def merge(self, other: "Counts") -> None:
        self.scheduled += other.scheduled
        self.completed += other.completed
        self.skipped += other.skipped
        self.missed += other.missed
        self.paused += other.paused
        self.pending += other.pending


class AssignmentRef(NamedTuple):
    """What adherence needs of an assignment: its id, end, and its current schedule's zone
    (the zone whose today ends the window)."""

    id: uuid.UUID
    ended_at: datetime | None
    timezone: str


def key_of(assignment_id: uuid.UUID, occ: Occurrence) -> OccurrenceKey:
    return (assignment_id, occ.local_date, occ.time_text)


def outcome(occ: Occurrence, answered: CompletionStatus | None, today: date) -> str:
    if occ.suspended:
        return "paused"
    if answered == CompletionStatus.done:
        return "completed"
    if answered == CompletionStatus.skipped:
        return "skipped"
    return "missed" if occ.local_date < today else "pending"


def _done_among() -> ColumnElement[int]:
    """1 when a done completion is among a group's answers, else 0 (a done one wins)."""
    return func.max(case((Completion.status == CompletionStatus.done, 1), else_=0))


def _answer(done: bool | None) -> CompletionStatus | None:
    if done is None:
        return None
    return CompletionStatus.done if done else CompletionStatus.skipped


async def answered_occurrences(
    session: AsyncSession, assignment_ids: Iterable[uuid.UUID], start: date, end: date
) -> dict[OccurrenceKey, CompletionStatus]:
    """What answered each occurrence in the window (a done completion wins over a skip)."""
    found: dict[OccurrenceKey, CompletionStatus] = {}
    for key, done in await _answered_rows(session, assignment_ids, start, end):
        found[key] = CompletionStatus.done if done else CompletionStatus.skipped
    return found


async def _answered_rows(
    session: AsyncSession, assignment_ids: Iterable[uuid.UUID], start: date, end: date
) -> list[tuple[OccurrenceKey, bool]]:
    """Each answered (assignment, date, time) in the window once, and whether a done
    completion is among its answers."""
    ids = list(assignment_ids)
    if not ids:
        return []
    rows = await session.execute(
        select(
            Completion.assignment_id,
            Completion.occurrence_date,
            Completion.occurrence_time,
            _done_among(),
        )
        .where(Completion.assignment_id.in_(ids), Completion.occurrence_date.between(start, end))
        .group_by(Completion.assignment_id, Completion.occurrence_date, Completion.occurrence_time)
    )
    return [((a, d, t), bool(x)) for a, d, t, x in rows]


async def adherence_windows(
    session: AsyncSession, assignments: Sequence[AssignmentRef], now: datetime, days: Sequence[int]
) -> dict[uuid.UUID, list[Counts]]:
    """Counts per assignment over the last `days[i]` local days (today included) for each i,
    from one expansion of the longest window.

    An assignment whose window is shaped by one schedule alone (no pause, change or end near
    it; `Timeline.simple_schedule`) is counted without placing its occurrences on the time
    line: its slots are (schedule date x time of day), all unsuspended, so scheduled, missed
    and pending follow from how many of its dates fall before and on today. When its rule
    takes plain weekdays every day or every week through the whole window (most homework),
    even its answers are counted in SQL, per assignment and time of day (`_answer_counts`),
    and their weekdays and times checked against the rule's. Any other assignment is counted
    against its answers read one row per answered occurrence, slot by slot when its timeline
    is simple, else expanded occurrence by occurrence. All paths give the same counts
    (tests/metrics/test_adherence_windows.py compares them on random histories).
    """
    counts = {a.id: [Counts() for _ in days] for a in assignments}
    if not assignments:
        return counts
    longest = max(days)
    todays: dict[str, date] = {}
    windows: dict[uuid.UUID, tuple[date, date]] = {}
    for a in assignments:
        today = todays.get(a.timezone)
        if today is None:
            today = todays[a.timezone] = now.astimezone(zone_named(a.timezone)).date()
        windows[a.id] = (today - timedelta(days=longest - 1), today)
    timelines = await load_timelines(session, assignments)
    simple: dict[uuid.UUID, tuple[ScheduleRead, list[date]]] = {}
    summed: dict[uuid.UUID, int] = {}  # answers counted in SQL: the rule's weekday mask
    for a in assignments:
        first, today = windows[a.id]
        low = datetime.combine(first, time(), UTC) - _BEFORE
        high = datetime.combine(today, time(), UTC) + _AFTER
        schedule = timelines[a.id].simple_schedule(low, high)
        if schedule is None:
            continue
        simple[a.id] = (schedule, schedule_dates(schedule, first, today))
        mask = _weekday_mask(schedule, first, today)
        if mask is not None:
            summed[a.id] = mask
    keyed = set(counts) - set(summed)
    if summed:
        edges, sums = await _answer_counts(
            session, list(summed), {windows[a][1] for a in summed}, days
        )
        # Interval i is [edges[i], edges[i + 1]); today's starts today, a window's on its first day.
        spans = {
            today: (edges.index(today), [edges.index(today - timedelta(days=n - 1)) for n in days])
            for today in {windows[a][1] for a in summed}
        }
        for assignment_id, mask in summed.items():
            schedule, dates = simple[assignment_id]
            today = windows[assignment_id][1]
            answered = _checked(sums.get(assignment_id, []), schedule.times, mask, spans[today])
            if answered is None:  # answers that no slot explains: look at them one by one
                keyed.add(assignment_id)
            else:
                _fill(counts[assignment_id], dates, len(schedule.times) or 1, today, days, answered)
    if not keyed:
        return counts
    answers: dict[uuid.UUID, dict[tuple[date, str | None], bool]] = defaultdict(dict)
    for (assignment_id, day, at), done in await _answered_rows(
        session, keyed, min(windows[a][0] for a in keyed), max(windows[a][1] for a in keyed)
    ):
        answers[assignment_id][(day, at)] = done
    for assignment_id in keyed:
        first, today = windows[assignment_id]
        mine = answers.get(assignment_id, {})
        if assignment_id in simple:
            schedule, dates = simple[assignment_id]
            answered = _answered_slots(mine, schedule.times, dates, first, today, days)
            _fill(counts[assignment_id], dates, len(schedule.times) or 1, today, days, answered)
            continue
        starts = [today - timedelta(days=n - 1) for n in days]
        for occ in timelines[assignment_id].occurrences(first, today):
            result = outcome(occ, _answer(mine.get((occ.local_date, occ.time_text))), today)
            for start, c in zip(starts, counts[assignment_id], strict=True):
                if occ.local_date >= start:
                    c.add(result)
    return counts


Answered = list[tuple[int, int, int, int]]  # per window: done and skipped before today, today


def _fill(
    counts: list[Counts],
    dates: list[date],
    per_day: int,
    today: date,
    days: Sequence[int],
    answered: Answered,
) -> None:
    """Counts of a simple timeline: every slot is an unsuspended occurrence, so a past slot
    is completed, skipped or missed, and today's are answered or pending."""
    today_slots = per_day if dates and dates[-1] == today else 0
    before_today = bisect_left(dates, today)
    for n, c, (done_past, skip_past, done_today, skip_today) in zip(
        days, counts, answered, strict=True
    ):
        start = today - timedelta(days=n - 1)
        past_slots = (before_today - bisect_left(dates, start)) * per_day
        c.completed = done_past + done_today
        c.skipped = skip_past + skip_today
        c.missed = past_slots - done_past - skip_past
        c.pending = today_slots - done_today - skip_today
        c.scheduled = past_slots + done_today + skip_today


def _answered_slots(
    answered: dict[tuple[date, str | None], bool],
    times: list[str],
    dates: list[date],
    first: date,
    today: date,
    days: Sequence[int],
) -> Answered:
    """Per window: answered slots (done past, skipped past, done today, skipped today).
    Only answers of real slots count, as when each occurrence looks its answer up."""
    starts = [today - timedelta(days=n - 1) for n in days]
    tallies = [[0, 0, 0, 0] for _ in starts]
    on = set(dates)
    at_times: set[str | None] = set(times) if times else {None}
    for (day, at), done in answered.items():
        if day < first or day > today or at not in at_times or day not in on:
            continue
        column = (0 if done else 1) + (2 if day == today else 0)
        for start, tally in zip(starts, tallies, strict=True):
            if day >= start:
                tally[column] += 1
    return [(t[0], t[1], t[2], t[3]) for t in tallies]


def _weekday_mask(schedule: ScheduleRead, first: date, today: date) -> int | None:
    """Bit (1 << n) for each weekday n (0 = Sunday, as SQL numbers them) of a rule that takes
    those weekdays every day or every week through the whole window [first, today], so that
    its slot dates there are exactly the window's days on those weekdays; None for any other
    (an interval, month days, COUNT, a start or an end inside the window, no rule)."""
    parts = schedule.rule_parts()
    if parts is None or parts.interval != 1 or parts.count or schedule.count:
        return None
    if schedule.start_date > first or min(schedule.end_date or today, parts.until or today) < today:
        return None
    weekdays = parts.plain_weekdays(schedule.start_date)
    if weekdays is None:
        return None
    return sum(1 << ((w + 1) % 7) for w in weekdays)


class _Sunday0Weekday(FunctionElement[int]):
    """A date's weekday, 0 = Sunday .. 6 = Saturday, on both engines."""

    type = Integer()
    inherit_cache = True


@compiles(_Sunday0Weekday)
def _weekday_sqlite(element: _Sunday0Weekday, compiler: Any, **kw: Any) -> str:
    return f"CAST(strftime('%w', {compiler.process(element.clauses, **kw)}) AS INTEGER)"


@compiles(_Sunday0Weekday, "postgresql")
def _weekday_postgresql(element: _Sunday0Weekday, compiler: Any, **kw: Any) -> str:
    # Integer arithmetic from a known Sunday: cheaper than EXTRACT, which goes through numeric.
    day = compiler.process(element.clauses, **kw)
    return f"(({day} - DATE '2000-01-02') % 7 + 7) % 7"


# One row per (assignment, time of day): for each date interval, the dates answered and how
# many of them a done completion answered; and the weekdays of all its answered dates.
_SumRow = tuple[str | None, list[int], int]


async def _answer_counts(
    session: AsyncSession, assignment_ids: list[uuid.UUID], todays: set[date], days: Sequence[int]
) -> tuple[list[date], dict[uuid.UUID, list[_SumRow]]]:
    """Answered dates per assignment and time of day, counted per interval between `edges`
    (every window's first day, every today and the day after it), so that each assignment's
    windows, whichever its today, are unions of intervals; a done answer wins over a skip, and
    untimed days may hold several answers. One statement, one scan of the answers."""
    edges = sorted(
        {t - timedelta(days=n - 1) for t in todays for n in days}
        | todays
        | {t + timedelta(days=1) for t in todays}
    )
    # Each answered occurrence once, with whether a done completion is among its answers.
    answered = (
        select(
            Completion.assignment_id,
            Completion.occurrence_time,
            Completion.occurrence_date,
            _Sunday0Weekday(Completion.occurrence_date).label("weekday"),
            _done_among().label("done"),
        )
        .where(
            Completion.assignment_id.in_(assignment_ids),
            Completion.occurrence_date >= edges[0],
            Completion.occurrence_date < edges[-1],
        )
        .group_by(Completion.assignment_id, Completion.occurrence_time, Completion.occurrence_date)
        .subquery()
    )
    day, weekday, done = answered.c.occurrence_date, answered.c.weekday, answered.c.done == 1
    columns = []
    for low, high in pairwise(edges):
        within = (day >= low) & (day < high)
        columns.append(func.count(case((within, 1))))
        columns.append(func.count(case((within & done, 1))))
    rows = await session.execute(
        select(
            answered.c.assignment_id,
            answered.c.occurrence_time,
            # Bit n set when an answered date falls on weekday n: the maximum of each bit's
            # column, summed (SQLite has no bitwise OR aggregate).
            sum(
                (func.max(case((weekday == n, 1 << n), else_=0)) for n in range(1, 7)),
                func.max(case((weekday == 0, 1), else_=0)),
            ),
            *columns,
        ).group_by(answered.c.assignment_id, answered.c.occurrence_time)
    )
    found: dict[uuid.UUID, list[_SumRow]] = defaultdict(list)
    for assignment_id, at, weekdays, *tallies in rows:
        found[assignment_id].append((at, tallies, weekdays))
    return edges, found


def _checked(
    rows: list[_SumRow], times: list[str], mask: int, spans: tuple[int, list[int]]
) -> Answered | None:
    """The per-window answered slots from the SQL sums, or None when some answer is not on a
    slot (a time the schedule lacks, a weekday the rule does not take). `spans` says which
    intervals make today (its index) and each window's days before today (from its index up
    to today's)."""
    now, starts = spans
    if not rows:
        return [(0, 0, 0, 0)] * len(starts)
    at_times: set[str | None] = set(times) if times else {None}
    total: list[int] = []
    for at, tallies, weekdays in rows:
        if at not in at_times or weekdays & ~mask:
            return None
        total = [a + b for a, b in zip(total, tallies, strict=True)] if total else tallies
    # Columns come in pairs per interval: answered dates, then those a done answer answered.
    done_today, skipped_today = total[2 * now + 1], total[2 * now] - total[2 * now + 1]
    found = []
    for start in starts:
        answered = sum(total[2 * start : 2 * now : 2])
        done = sum(total[2 * start + 1 : 2 * now : 2])
        found.append((done, answered - done, done_today, skipped_today))
    return found


def refs_of(assignments: Sequence[Assignment]) -> list[AssignmentRef]:
    return [AssignmentRef(a.id, a.ended_at, a.schedule["timezone"]) for a in assignments]


async def adherence_for_assignments(
    session: AsyncSession, assignments: Sequence[Assignment], now: datetime, *, days: int
) -> dict[uuid.UUID, Counts]:
    """Counts per assignment over the last `days` local days (today included)."""
    windows = await adherence_windows(session, refs_of(assignments), now, (days,))
    return {assignment_id: found[0] for assignment_id, found in windows.items()}
