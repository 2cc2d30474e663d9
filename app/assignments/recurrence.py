"""Occurrence expansion: a schedule's local dates and wall-clock times turned into UTC instants.

Decisions a caller can rely on:
- Dates come from the rule in the schedule's zone (dateutil over naive local dates); each of
  `times` is then placed on each date, so 08:00 stays 08:00 local across DST changes and
  only the UTC instant moves.
- A wall-clock time that does not exist (spring-forward gap) becomes the first later minute
  that does (02:30 on 2026-03-08 in New York is 03:00 EDT); an ambiguous one (fall back)
  is the first of the two (fold=0, still daylight time). `local_time` keeps the requested
  time; `due_at` is the real instant. `resolve_local` implements this for everyone.
- An untimed occurrence ("any time that day") starts at local midnight and is due at the
  next local midnight, the instant its day ends; days may last 23 or 25 hours.
- Pauses are UTC intervals `[paused_at, resumed_at)`, `resumed_at` None while still paused.
  An occurrence whose `due_at` falls inside one is returned with `suspended=True`: neither
  due nor missed. The agenda leaves these out; metrics count them as paused.
- The zone is the schedule's own `timezone` when it has one, else the `tz` passed in (the
  client's zone).
"""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache, lru_cache
from itertools import islice
from zoneinfo import ZoneInfo

from app.assignments.schedules import Reminders, RuleParts, Schedule

Pause = tuple[datetime, datetime | None]

SEARCH_HORIZON_DAYS = 400
# `_upcoming` expands a few days first (the next occurrence of most schedules is among them),
# then windows that grow fourfold up to a month.
_FIRST_CHUNK_DAYS = 3
_CHUNK_DAYS = 31
# Samoa skipped all of 2011-12-30, the longest gap on record; a day and an hour covers any zone.
_MAX_GAP_MINUTES = 25 * 60
_MIDNIGHT = time(0, 0)
_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Occurrence:
    """One due moment of an assignment.

    `local_time` is None for "any time that day". `starts_at` equals `due_at` for timed
    occurrences and is local midnight for untimed ones, whose `due_at` is the next local
    midnight. Both are tz-aware UTC. `suspended` marks an occurrence due inside a pause.
    """

    local_date: date
    local_time: time | None
    due_at: datetime
    starts_at: datetime
    suspended: bool = False

    @property
    def time_text(self) -> str | None:
        """`local_time` as it is stored and answered ("08:00"), None when untimed."""
        return self.local_time.strftime("%H:%M") if self.local_time else None


@cache
def zone_named(name: str) -> ZoneInfo:
    """One ZoneInfo per name, kept alive: ZoneInfo's own cache holds only the 8 most recent
    zones strongly, and a caseload spans dozens, so they were read from disk again and again."""
    return ZoneInfo(name)


def _zone(tz: str | ZoneInfo) -> ZoneInfo:
    return tz if isinstance(tz, ZoneInfo) else zone_named(tz)


def _schedule_zone(schedule: Schedule, tz: str | ZoneInfo) -> ZoneInfo:
    return zone_named(schedule.timezone) if schedule.timezone else _zone(tz)


def resolve_local(local_date: date, local_time: time, tz: str | ZoneInfo) -> datetime:
    """The UTC instant of a local wall-clock time: gaps move forward, ambiguous times take fold=0."""
    return _resolve(local_date, local_time, _zone(tz))


# Clients share zones, days and times, so the same instants are asked for again and again.
@lru_cache(maxsize=65536)
def _resolve(local_date: date, local_time: time, zone: ZoneInfo) -> datetime:
    wall = datetime.combine(local_date, local_time)
    for _ in range(_MAX_GAP_MINUTES):
        instant = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
        # A wall time inside a gap does not survive the round trip; one that does exists.
        if instant.astimezone(zone).replace(tzinfo=None) == wall:
            return instant
        wall += timedelta(minutes=1)
    raise ValueError(f"no valid local time near {local_date} {local_time} in {zone.key}")


def _period_start(parts: RuleParts, start: date, low: date) -> date:
    """The start of the rule's period that holds `low`, so dateutil need not walk from `start`.

    Moving DTSTART by whole periods (interval days, interval weeks from the start's Monday,
    interval months from the start's month) keeps every later date the same.
    """
    if low <= start:
        return start
    if parts.freq == "DAILY":
        skipped = (low - start).days // parts.interval * parts.interval
        return start + timedelta(days=skipped)
    if parts.freq == "WEEKLY":
        monday = start - timedelta(days=start.weekday())
        periods = (low - monday).days // (7 * parts.interval)
        return monday + timedelta(weeks=periods * parts.interval) if periods else start
    months = (low.year - start.year) * 12 + low.month - start.month
    periods = months // parts.interval
    if not periods:
        return start
    index = start.month - 1 + periods * parts.interval
    return date(start.year + index // 12, index % 12 + 1, 1)


def schedule_dates(schedule: Schedule, window_start: date, window_end: date) -> list[date]:
    """The schedule's local dates within [window_start, window_end], in order."""
    low = max(window_start, schedule.start_date)
    high = min(window_end, schedule.end_date or date.max)
    parts = schedule.rule_parts()
    if parts is None:
        return [schedule.start_date] if low <= schedule.start_date <= high else []
    if parts.until is not None:
        high = min(high, parts.until)
    if low > high:
        return []
    start = schedule.start_date
    count = schedule.count or parts.count
    weekdays = parts.plain_weekdays(start) if count is None else None
    if weekdays is not None:
        return _plain_dates(parts.freq, parts.interval, weekdays, start, low, high)
    if count is not None:
        # COUNT numbers dates from start_date, so the walk must begin there; COUNT <= 1000
        # bounds it, and UNTIL=high stops it early.
        matches: Iterator[datetime] = islice(parts.to_dateutil(start, high, anchor=start), count)
    else:
        # UNTIL=high also bounds rules that rarely match: dateutil never walks past the window.
        matches = iter(parts.to_dateutil(_period_start(parts, start, low), high, anchor=start))
    return [d for d in (m.date() for m in matches) if d >= low]


def _plain_dates(
    freq: str, interval: int, weekdays: frozenset[int], start: date, low: date, high: date
) -> list[date]:
    """What dateutil yields for a DAILY or WEEKLY rule on plain weekdays, by date arithmetic:
    DAILY takes every `interval`-th day from `start` that falls on one of `weekdays`; WEEKLY
    takes `weekdays` in every `interval`-th week (Monday to Sunday) from `start`'s week, never
    before `start`. `low` is on or after `start`."""
    found: list[date] = []
    try:
        if freq == "DAILY":
            day = start + timedelta(days=-(-(low - start).days // interval) * interval)
            step = timedelta(days=interval)
            every_day = len(weekdays) == 7
            while day <= high:
                if every_day or day.weekday() in weekdays:
                    found.append(day)
                day += step
            return found
        offsets = [timedelta(days=w) for w in sorted(weekdays)]
        monday = start - timedelta(days=start.weekday())
        monday += timedelta(weeks=(low - monday).days // 7 // interval * interval)
        step = timedelta(weeks=interval)
        while monday <= high:
            for offset in offsets:
                day = monday + offset
                if low <= day <= high:
                    found.append(day)
            monday += step
    except OverflowError:  # the next step lies past date.max, so past `high` too
        pass
    return found


def _check_pauses(paused: Sequence[Pause]) -> list[Pause]:
    for paused_at, resumed_at in paused:
        if paused_at.tzinfo is None or (resumed_at is not None and resumed_at.tzinfo is None):
            raise ValueError("pause intervals must be timezone-aware")
    return list(paused)


def _is_paused(instant: datetime, pauses: list[Pause]) -> bool:
    return any(p <= instant and (r is None or instant < r) for p, r in pauses)


def _occurrence(day: date, at: time | None, zone: ZoneInfo, pauses: list[Pause]) -> Occurrence:
    if at is None:
        starts_at = resolve_local(day, _MIDNIGHT, zone)
        due_at = resolve_local(day + _ONE_DAY, _MIDNIGHT, zone)
    else:
        starts_at = due_at = resolve_local(day, at, zone)
    return Occurrence(day, at, due_at, starts_at, suspended=_is_paused(due_at, pauses))


def expand(
    schedule: Schedule,
    tz: str,
    window_start: date,
    window_end: date,
    *,
    paused: Sequence[Pause] = (),
) -> list[Occurrence]:
    """Occurrences whose local_date is within [window_start, window_end], by due_at then time.

    Suspended occurrences are included and flagged; filter on `suspended` for the agenda.
    """
    if window_end < window_start:
        raise ValueError("window_end is before window_start")
    zone = _schedule_zone(schedule, tz)
    pauses = _check_pauses(paused)
    times: list[time | None] = [*schedule.local_times()] or [None]
    found = [
        _occurrence(day, at, zone, pauses)
        for day in schedule_dates(schedule, window_start, window_end)
        for at in times
    ]
    found.sort(key=lambda o: (o.due_at, o.local_time or _MIDNIGHT))
    return found


def _last_date(schedule: Schedule, limit: date) -> date | None:
    """A date after which the schedule yields nothing up to `limit`; None when it yields nothing."""
    parts = schedule.rule_parts()
    if parts is None:
        return schedule.start_date
    if schedule.count or parts.count:
        # COUNT walks from start_date anyway (at most 1000 dates), so its last date is cheap.
        dates = schedule_dates(schedule, schedule.start_date, limit)
        return dates[-1] if dates else None
    return min(d for d in (schedule.end_date, parts.until, limit) if d)


def _upcoming(
    schedule: Schedule, tz: str, after: datetime, paused: Sequence[Pause]
) -> Iterator[Occurrence]:
    """Unsuspended occurrences due after `after`, in order, up to the search horizon."""
    if after.tzinfo is None:
        raise ValueError("after must be timezone-aware")
    zone = _schedule_zone(schedule, tz)
    # A day back, because a gap can push a late local time past midnight into `after`'s day.
    day = max(after.astimezone(zone).date() - _ONE_DAY, schedule.start_date)
    last = _last_date(schedule, day + timedelta(days=SEARCH_HORIZON_DAYS))
    if last is None:
        return
    chunk = _FIRST_CHUNK_DAYS
    while day <= last:
        chunk_end = min(day + timedelta(days=chunk - 1), last)
        for occurrence in expand(schedule, tz, day, chunk_end, paused=paused):
            if occurrence.due_at > after and not occurrence.suspended:
                yield occurrence
        day = chunk_end + _ONE_DAY
        chunk = min(chunk * 4, _CHUNK_DAYS)


def next_occurrence(
    schedule: Schedule, tz: str, after: datetime, *, paused: Sequence[Pause] = ()
) -> Occurrence | None:
    """The first unsuspended occurrence due after `after` (an untimed one whose day has not
    ended), within SEARCH_HORIZON_DAYS; None when there is none."""
    return next(_upcoming(schedule, tz, after, paused), None)


def next_reminder(
    schedule: Schedule,
    reminders: Reminders,
    tz: str,
    after: datetime,
    *,
    paused: Sequence[Pause] = (),
) -> datetime | None:
    """The first reminder instant after `after` (UTC), or None.

    Timed occurrences are reminded `minutes_before` each due_at; untimed ones at `untimed_at`
    local time on their day, resolved like any wall-clock time. Suspended occurrences get none.
    """
    zone = _schedule_zone(schedule, tz)
    offsets = [timedelta(minutes=m) for m in reminders.minutes_before]
    untimed_at = reminders.reminder_time()
    if (schedule.times and not offsets) or (not schedule.times and untimed_at is None):
        return None
    lead = max(offsets, default=timedelta(0))
    best: datetime | None = None
    for occurrence in _upcoming(schedule, tz, after, paused):
        # No reminder of this or any later occurrence comes before `earliest`, which only grows.
        timed = occurrence.local_time is not None
        earliest = occurrence.due_at - lead if timed else occurrence.starts_at
        if best is not None and earliest > best:
            break
        if timed:
            candidates = [occurrence.due_at - offset for offset in offsets]
        else:
            assert untimed_at is not None
            candidates = [resolve_local(occurrence.local_date, untimed_at, zone)]
        for candidate in candidates:
            if candidate > after and (best is None or candidate < best):
                best = candidate
    return best
