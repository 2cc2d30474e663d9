"""A client's local days: what was scheduled, what was done, and the streaks they make.

Streak rule (documented in the API): a day *counts* when every timed occurrence scheduled that
day was done, or, on a day with only untimed work, when at least one completion was done. A
scheduled day that is over without counting *breaks* the streak. Days with nothing scheduled
count when something was done anyway and are otherwise neutral, and today never breaks a
streak (it is not over yet). Skips do not count as done. Days are the occurrences' local dates
in the schedule's zone, so a completion at 23:30 local belongs to that local day."""

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.assignments.models import Assignment
from app.assignments.occurrences import AssignmentFacts, Timeline, load_timelines
from app.assignments.repository import overlapping
from app.completions.models import Completion, CompletionStatus


@dataclass
class DayState:
    timed: set[tuple[uuid.UUID, str]] = field(default_factory=set)
    untimed: bool = False
    done_timed: set[tuple[uuid.UUID, str]] = field(default_factory=set)
    done_any: bool = False

    def count_done(self, assignment_id: uuid.UUID, at: str | None) -> None:
        """A done completion of this day (of the assignment's occurrence at `at`, if timed)."""
        self.done_any = True
        if at is not None:
            self.done_timed.add((assignment_id, at))

    def verdict(self, is_over: bool) -> bool | None:
        """True counts, False breaks, None is neutral."""
        if self.timed:
            if self.timed <= self.done_timed:
                return True
        elif self.untimed or self.done_any:
            if self.done_any:
                return True
        else:
            return None
        return False if is_over else None


@dataclass
class Scheduled:
    """A client's assignments over some window with their timelines, loaded once for whoever
    needs them next (recording a completion resolves its occurrence and then the streak days
    from the same rows)."""

    assignments: Sequence[AssignmentFacts]
    timelines: dict[uuid.UUID, Timeline]
    # The client's done occurrences (local day, assignment, time), when loaded with the rest:
    # then `client_days` sends no query for the days within `done_from..done_to`.
    done: list[tuple[date, uuid.UUID, str | None]] | None = None
    done_from: date | None = None
    done_to: date | None = None
    # Known to hold no done day before `done_from`: no streak reaches back past it.
    none_done_before: bool = False

    def covers(self, start: date, end: date) -> bool:
        """Whether the assignments and done days loaded are those of `start..end`."""
        if self.done_from is None or self.done_to is None:
            return False
        return self.done_from <= start and end <= self.done_to

    def done_within(
        self, start: date, end: date
    ) -> list[tuple[date, uuid.UUID, str | None]] | None:
        if self.done is None or not self.covers(start, end):
            return None
        return [row for row in self.done if start <= row[0] <= end]

    def within(self, start: date, end: date) -> list[AssignmentFacts]:
        return [
            a
            for a in self.assignments
            if a.first_date <= end and (a.last_date is None or a.last_date >= start)
        ]


async def load_scheduled(
    session: AsyncSession,
    client_id: uuid.UUID,
    start: date,
    end: date,
    *,
    also: uuid.UUID | None = None,
) -> Scheduled:
    """The client's assignments that overlap start..end (and the assignment `also`, wherever
    it lies), with their timelines: three queries."""
    overlaps = overlapping(start, end)
    wanted = overlaps if also is None else or_(overlaps, Assignment.id == also)
    assignments = list(
        (
            await session.execute(
                select(Assignment).where(Assignment.client_id == client_id, wanted)
            )
        ).scalars()
    )
    return Scheduled(assignments, await load_timelines(session, assignments))


async def client_days(
    session: AsyncSession,
    client_id: uuid.UUID,
    start: date,
    end: date,
    scheduled: Scheduled | None = None,
) -> dict[date, DayState]:
    """Scheduled and done occurrences per local day: one query per table, only the done ones
    when `scheduled` (covering start..end) was loaded already, none when it holds them too."""
    days: dict[date, DayState] = defaultdict(DayState)
    if scheduled is None:
        scheduled = await load_scheduled(session, client_id, start, end)
    assignments = scheduled.within(start, end)
    timelines = scheduled.timelines
    for assignment in assignments:
        for occ in timelines[assignment.id].occurrences(start, end):
            if occ.suspended:
                continue
            state = days[occ.local_date]
            if (time_text := occ.time_text) is None:
                state.untimed = True
            else:
                state.timed.add((assignment.id, time_text))
    done = scheduled.done_within(start, end)
    if done is None:
        done = list(
            await session.execute(
                select(
                    Completion.occurrence_date,
                    Completion.assignment_id,
                    Completion.occurrence_time,
                )
                .where(
                    Completion.client_id == client_id,
                    Completion.status == CompletionStatus.done,
                    Completion.occurrence_date.between(start, end),
                )
                .distinct()
            )
        )
    for day, assignment_id, at in done:
        days[day].count_done(assignment_id, at)
    return days


def streaks(
    days: dict[date, DayState], start: date, end: date, today: date
) -> tuple[int, int, bool]:
    """(current, longest, reached_start): `current` runs back from `end`; `reached_start`
    says whether the walk hit `start` without a break (the streak may go on before it)."""
    longest = run = 0
    day = start
    while day <= end:
        verdict = days[day].verdict(is_over=day < today) if day in days else None
        if verdict is True:
            run += 1
            longest = max(longest, run)
        elif verdict is False:
            run = 0
        day += timedelta(days=1)
    current = 0
    day = end
    while day >= start:
        verdict = days[day].verdict(is_over=day < today) if day in days else None
        if verdict is False:
            return current, longest, False
        if verdict is True:
            current += 1
        day -= timedelta(days=1)
    return current, longest, True
