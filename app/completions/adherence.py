"""Adherence: each scheduled occurrence classified against the completions that answer it."""

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.assignments.models import Assignment
from app.assignments.occurrences import load_timelines
from app.assignments.recurrence import Occurrence
from app.completions.models import Completion, CompletionStatus

OccurrenceKey = tuple[uuid.UUID, date, str | None]


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
        for name in ("scheduled", "completed", "skipped", "missed", "paused", "pending"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def key_of(assignment_id: uuid.UUID, occ: Occurrence) -> OccurrenceKey:
    return (
        assignment_id,
        occ.local_date,
        occ.local_time.strftime("%H:%M") if occ.local_time else None,
    )


def outcome(occ: Occurrence, answered: CompletionStatus | None, today: date) -> str:
    if occ.suspended:
        return "paused"
    if answered == CompletionStatus.done:
        return "completed"
    if answered == CompletionStatus.skipped:
        return "skipped"
    return "missed" if occ.local_date < today else "pending"


async def answered_occurrences(
    session: AsyncSession, assignment_ids: Iterable[uuid.UUID], start: date, end: date
) -> dict[OccurrenceKey, CompletionStatus]:
    """What answered each occurrence in the window (a done completion wins over a skip)."""
    ids = list(assignment_ids)
    found: dict[OccurrenceKey, CompletionStatus] = {}
    if not ids:
        return found
    rows = await session.execute(
        select(
            Completion.assignment_id,
            Completion.occurrence_date,
            Completion.occurrence_time,
            Completion.status,
        )
        .where(Completion.assignment_id.in_(ids), Completion.occurrence_date.between(start, end))
        .distinct()
    )
    for assignment_id, day, at, status in rows:
        key = (assignment_id, day, at)
        if found.get(key) != CompletionStatus.done:
            found[key] = CompletionStatus(status)
    return found


async def adherence_for_assignments(
    session: AsyncSession, assignments: Sequence[Assignment], now: datetime, *, days: int
) -> dict[uuid.UUID, Counts]:
    """Counts per assignment over the last `days` local days (today included)."""
    counts: dict[uuid.UUID, Counts] = {a.id: Counts() for a in assignments}
    if not assignments:
        return counts
    windows = {}
    for a in assignments:
        today = now.astimezone(ZoneInfo(a.schedule["timezone"])).date()
        windows[a.id] = (today - timedelta(days=days - 1), today)
    timelines = await load_timelines(session, assignments)
    answered = await answered_occurrences(
        session, counts, min(w[0] for w in windows.values()), max(w[1] for w in windows.values())
    )
    for a in assignments:
        start, today = windows[a.id]
        for occ in timelines[a.id].occurrences(start, today):
            counts[a.id].add(outcome(occ, answered.get(key_of(a.id, occ)), today))
    return counts
