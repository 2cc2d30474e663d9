"""Builds an agenda from one statement, whatever the number of occurrences."""

import uuid
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession

from app.agenda.repository import AGENDA, Row
from app.agenda.schemas import Agenda, AgendaItem, OccurrenceStatus
from app.assignments.occurrences import TimelineRow, build_timelines
from app.assignments.recurrence import zone_named
from app.auth.principal import Principal
from app.clinics.errors import ClientNotFound
from app.clinics.repository import ZonedClient
from app.completions.adherence import OccurrenceKey, key_of
from app.completions.models import CompletionStatus
from app.core import audit

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


class _Assignment(NamedTuple):
    """What the agenda shows of an assignment, and its end (for its timeline)."""

    id: uuid.UUID
    title: str
    template_id: uuid.UUID
    template_kind: str
    minutes: int
    ended_at: datetime | None


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


Window = Callable[[str], tuple[date, date]]  # the dates to show, in a given time zone


async def client_agenda(
    session: AsyncSession,
    principal: Principal,
    client: ZonedClient,
    window: Window,
    now: datetime,
) -> Agenda:
    """The client's agenda over the dates `window` picks in their time zone: one statement,
    which reads the client's current time zone along. `client` comes from
    `get_visible_zoned_client`, or is the principal's own time zone (`my_zone_hint`, up to
    PRINCIPAL_CACHE_SECONDS old): a zone the statement finds changed is taken, and the dates
    picked again (and read again, when they moved)."""
    start, end = window(client.timezone)
    rows = await _rows(session, principal, client.id, start, end)
    zone = next((row[2] for row in rows if row[0] == Row.zone), None)
    if zone is None:
        raise ClientNotFound("No such client.")
    if zone != client.timezone and (moved := window(zone)) != (start, end):
        start, end = moved
        rows = await _rows(session, principal, client.id, start, end)
    audit.note(client_id=client.id)
    return Agenda(
        client_id=client.id,
        timezone=zone,
        from_date=start,
        to_date=end,
        items=_items(rows, start, end, now),
    )


async def _rows(
    session: AsyncSession, principal: Principal, client_id: uuid.UUID, start: date, end: date
) -> Sequence[Sequence[Any]]:
    return await AGENDA.fetch(
        session, client_id=client_id, clinic_id=principal.clinic_id, start=start, end=end
    )


def _items(
    rows: Sequence[Sequence[Any]], window_start: date, window_end: date, now: datetime
) -> list[AgendaItem]:
    assignments: list[_Assignment] = []
    timeline_rows: list[TimelineRow] = []
    done: dict[OccurrenceKey, tuple[uuid.UUID, CompletionStatus]] = {}
    for kind, assignment_id, title, ref_id, template_kind, minutes, at, until, *rest in rows:
        stored, day, at_time, status = rest
        if kind == Row.assignment:
            assignments.append(
                _Assignment(assignment_id, title, ref_id, template_kind, minutes, ended_at=at)
            )
        elif kind == Row.completion:
            _record(done, (assignment_id, day, at_time), ref_id, CompletionStatus(status))
        elif kind != Row.zone:
            timeline_rows.append((kind == Row.schedule, assignment_id, stored, at, until))
    timelines = build_timelines(assignments, timeline_rows)
    items: list[AgendaItem] = []
    for assignment_id, title, template_id, template_kind, minutes, _ in assignments:
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
