"""An assignment's occurrences over a window, across its schedule history, pauses and end."""

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol, TypeVar
from typing import cast as typing_cast

from sqlalchemy import Integer, cast, literal_column, null, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from app.assignments.models import AssignmentPause, AssignmentSchedule
from app.assignments.recurrence import Occurrence, Pause, expand, next_occurrence, next_reminder
from app.assignments.schedules import Reminders, ScheduleRead
from app.core.prepared import Prepared, any_of


@dataclass
class Timeline:
    """What it takes to expand one assignment: its schedule segments, pauses and end."""

    segments: list[tuple[ScheduleRead, datetime, datetime | None]] = field(default_factory=list)
    pauses: list[Pause] = field(default_factory=list)
    ended_at: datetime | None = None

    def occurrences(self, window_start: date, window_end: date) -> list[Occurrence]:
        found: list[Occurrence] = []
        for schedule, effective_from, effective_to in self.segments:
            for occ in expand(
                schedule, schedule.timezone, window_start, window_end, paused=self.pauses
            ):
                if occ.due_at < effective_from:
                    continue
                if effective_to is not None and occ.due_at >= effective_to:
                    continue
                if self.ended_at is not None and occ.due_at > self.ended_at:
                    continue
                found.append(occ)
        found.sort(key=lambda o: (o.due_at, o.local_time is None))
        return found

    def simple_schedule(self, low: datetime, high: datetime) -> ScheduleRead | None:
        """The schedule that alone decides the occurrences due within [low, high]: in force
        since before `low` and still, no pause touching the interval, no end before `high`.
        Then every (date, time) slot the schedule yields there is an occurrence, unsuspended,
        whatever its instant; None when the timeline is not that simple."""
        if self.ended_at is not None and self.ended_at < high:
            return None
        if any(p < high and (r is None or r > low) for p, r in self.pauses):
            return None
        found = None
        for schedule, effective_from, effective_to in self.segments:
            if effective_to is not None and effective_to <= low:
                continue  # closed before the interval: none of its occurrences fall in it
            if found is not None or effective_from > low or effective_to is not None:
                return None
            found = schedule
        return found

    def current(self) -> ScheduleRead | None:
        return self.segments[-1][0] if self.segments else None

    def next_occurrence_at(self, after: datetime) -> datetime | None:
        schedule = self.current()
        if schedule is None or self.ended_at is not None:
            return None
        occ = next_occurrence(schedule, schedule.timezone, after, paused=self.pauses)
        return occ.due_at if occ else None

    def next_reminder_at(self, reminders: Reminders, after: datetime) -> datetime | None:
        schedule = self.current()
        if schedule is None or self.ended_at is not None:
            return None
        return next_reminder(schedule, reminders, schedule.timezone, after, paused=self.pauses)


class TimelineOwner(Protocol):
    """What a timeline needs of an assignment (a row, or a lighter reference to one)."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def ended_at(self) -> datetime | None: ...


class AssignmentFacts(TimelineOwner, Protocol):
    """What scheduling reads of an assignment besides its timeline: an ORM row, or the columns
    of one read without the ORM (a completion's context)."""

    @property
    def clinic_id(self) -> uuid.UUID: ...

    @property
    def client_id(self) -> uuid.UUID: ...

    @property
    def first_date(self) -> date: ...

    @property
    def last_date(self) -> date | None: ...


_TIMELINES = Prepared(
    union_all(
        select(
            literal_column("0", Integer).label("kind"),
            AssignmentSchedule.assignment_id,
            AssignmentSchedule.schedule,
            AssignmentSchedule.effective_from.label("starts"),
            AssignmentSchedule.effective_to.label("ends"),
        ).where(any_of(AssignmentSchedule.assignment_id, "ids")),
        select(
            literal_column("1", Integer),
            AssignmentPause.assignment_id,
            cast(null(), AssignmentSchedule.schedule.type),
            AssignmentPause.paused_at,
            AssignmentPause.resumed_at,
        ).where(any_of(AssignmentPause.assignment_id, "ids")),
    ).order_by("kind", "assignment_id", "starts")
)


async def load_timelines(
    session: AsyncSession, assignments: Sequence[TimelineOwner]
) -> dict[uuid.UUID, Timeline]:
    """Schedules and pauses of many assignments in one statement (a UNION ALL of both, a
    schedule row carrying its JSON, a pause row none)."""
    if not assignments:
        return defaultdict(Timeline)
    rows = await _TIMELINES.fetch(session, ids=[a.id for a in assignments])
    return build_timelines(assignments, ((kind == 0, *rest) for kind, *rest in rows))


TimelineRow = tuple[bool, uuid.UUID, dict[str, Any] | None, datetime, datetime | None]


def build_timelines(
    assignments: Sequence[TimelineOwner], rows: Iterable[TimelineRow]
) -> dict[uuid.UUID, Timeline]:
    """Timelines from rows (is a schedule segment, else a pause; the assignment's id; the
    segment's stored schedule; from; until), segments in the order they took effect."""
    timelines: dict[uuid.UUID, Timeline] = defaultdict(Timeline)
    for a in assignments:
        timelines[a.id].ended_at = a.ended_at
    for segment, assignment_id, schedule, starts, ends in rows:
        if segment:
            assert schedule is not None
            timelines[assignment_id].segments.append((parse_schedule(schedule), starts, ends))
        else:
            timelines[assignment_id].pauses.append((starts, ends))
    return timelines


_PARSED: dict[tuple[type, str], Any] = {}
# A caseload of 2,000 clients holds ~6,000 schedules; the cache must hold more than one call's.
_PARSED_MAX = 65536
Stored = TypeVar("Stored", ScheduleRead, Reminders)


def parse_stored(model: type[Stored], stored: dict[str, Any]) -> Stored:
    """Stored schedules and reminders were validated when written; parsing again is skipped
    when seen before (the parsed objects are shared: never change one)."""
    key = (model, repr(sorted(stored.items())))
    parsed = _PARSED.get(key)
    if parsed is None:
        parsed = model.model_validate(stored)
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.clear()
        _PARSED[key] = parsed
    return typing_cast(Stored, parsed)


def parse_schedule(stored: dict[str, Any]) -> ScheduleRead:
    return parse_stored(ScheduleRead, stored)
