"""Builds an agenda from one statement, whatever the number of occurrences."""

import uuid
from collections import defaultdict
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.agenda.repository import AGENDA, Row
from app.agenda.schemas import AgendaItem, OccurrenceStatus
from app.assignments.occurrences import Timeline, parse_schedule
from app.assignments.recurrence import zone_named
from app.clinics.repository import ZonedClient
from app.completions.adherence import OccurrenceKey, key_of
from app.completions.models import CompletionStatus

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


def _record(
    found: dict[OccurrenceKey, tuple[uuid.UUID, CompletionStatus]],
    key: OccurrenceKey,
    completion_id: uuid.UUID,
    status: CompletionStatus,
) -> None:
    """A done completion wins over a skip of the same (untimed) occurrence; else the first."""
    if key not in found or (
        status == CompletionStatus.done and found[key][1] != CompletionStatus.done
    ):
        found[key] = (completion_id, status)


async def agenda_items(
    session: AsyncSession, client: ZonedClient, window_start: date, window_end: date, now: datetime
) -> list[AgendaItem]:
    rows = await AGENDA.fetch(session, client_id=client.id, start=window_start, end=window_end)
    assignments: list[tuple[uuid.UUID, str, uuid.UUID, str, int]] = []
    timelines: dict[uuid.UUID, Timeline] = defaultdict(Timeline)
    done: dict[OccurrenceKey, tuple[uuid.UUID, CompletionStatus]] = {}
    for kind, assignment_id, title, ref_id, template_kind, minutes, at, until, *rest in rows:
        schedule, day, at_time, status = rest
        if kind == Row.assignment:
            assignments.append((assignment_id, title, ref_id, template_kind, minutes))
            timelines[assignment_id].ended_at = at
        elif kind == Row.schedule:
            timelines[assignment_id].segments.append((parse_schedule(schedule), at, until))
        elif kind == Row.pause:
            timelines[assignment_id].pauses.append((at, until))
        else:
            _record(done, (assignment_id, day, at_time), ref_id, CompletionStatus(status))
    items: list[AgendaItem] = []
    for assignment_id, title, template_id, template_kind, minutes in assignments:
        timeline = timelines[assignment_id]
        schedule = timeline.current()
        if schedule is None:
            continue
        tz = schedule.timezone
        today = now.astimezone(zone_named(tz)).date()
        for occ in timeline.occurrences(window_start, window_end):
            if occ.suspended:
                continue
            completion = done.get(key_of(assignment_id, occ))
            status = (
                _COMPLETION_STATUS[completion[1]] if completion else _status(occ.local_date, today)
            )
            items.append(
                AgendaItem(
                    assignment_id=assignment_id,
                    title=title,
                    template_id=template_id,
                    template_kind=template_kind,
                    estimated_minutes=minutes,
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
