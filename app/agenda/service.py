"""Builds an agenda with one query per table, whatever the number of occurrences."""

import uuid
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.agenda.schemas import AgendaItem, OccurrenceStatus
from app.assignments.models import Assignment
from app.assignments.occurrences import load_timelines
from app.assignments.recurrence import zone_named
from app.assignments.repository import overlapping
from app.auth.models import User
from app.completions.adherence import key_of
from app.completions.models import Completion, CompletionStatus

_COMPLETION_STATUS = {
    CompletionStatus.done: OccurrenceStatus.completed,
    CompletionStatus.skipped: OccurrenceStatus.skipped,
}


def _status(local_date: date, today: date) -> OccurrenceStatus:
    if local_date > today:
        return OccurrenceStatus.upcoming
    if local_date == today:
        return OccurrenceStatus.due
    return OccurrenceStatus.missed


async def _completions(
    session: AsyncSession, assignment_ids: list[uuid.UUID], start: date, end: date
) -> dict[tuple[uuid.UUID, date, str | None], tuple[uuid.UUID, CompletionStatus]]:
    """Completions of the window by occurrence; a done one wins over a skip on untimed days."""
    found: dict[tuple[uuid.UUID, date, str | None], tuple[uuid.UUID, CompletionStatus]] = {}
    if not assignment_ids:
        return found
    rows = await session.execute(
        select(
            Completion.id,
            Completion.assignment_id,
            Completion.occurrence_date,
            Completion.occurrence_time,
            Completion.status,
        )
        .where(
            Completion.assignment_id.in_(assignment_ids),
            Completion.occurrence_date.between(start, end),
        )
        .order_by(Completion.completed_at)
    )
    for completion_id, assignment_id, day, at, status in rows:
        key = (assignment_id, day, at)
        if key not in found or (
            status == CompletionStatus.done and found[key][1] != CompletionStatus.done
        ):
            found[key] = (completion_id, CompletionStatus(status))
    return found


async def agenda_items(
    session: AsyncSession, client: User, window_start: date, window_end: date, now: datetime
) -> list[AgendaItem]:
    assignments = list(
        (
            await session.execute(
                select(Assignment).where(
                    Assignment.client_id == client.id, overlapping(window_start, window_end)
                )
            )
        ).scalars()
    )
    timelines = await load_timelines(session, assignments)
    done = await _completions(session, [a.id for a in assignments], window_start, window_end)
    items: list[AgendaItem] = []
    for assignment in assignments:
        tz = assignment.schedule["timezone"]
        today = now.astimezone(zone_named(tz)).date()
        for occ in timelines[assignment.id].occurrences(window_start, window_end):
            if occ.suspended:
                continue
            completion = done.get(key_of(assignment.id, occ))
            status = (
                _COMPLETION_STATUS[completion[1]] if completion else _status(occ.local_date, today)
            )
            items.append(
                AgendaItem(
                    assignment_id=assignment.id,
                    title=assignment.title,
                    template_id=assignment.template_id,
                    template_kind=assignment.template_kind,
                    estimated_minutes=assignment.estimated_minutes,
                    local_date=occ.local_date,
                    local_time=occ.time_text,
                    timezone=tz,
                    due_at=occ.due_at,
                    status=status,
                    completion_id=completion[0] if completion else None,
                )
            )
    items.sort(key=lambda i: (i.local_date, i.local_time or "99:99", str(i.assignment_id)))
    return items
