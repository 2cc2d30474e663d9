"""Assignments: create with a pinned template version, change without rewriting the past,
and the status lifecycle active ⇄ paused → completed | cancelled."""

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import column, select, table, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from app.assignments.models import (
    FINAL_STATUSES,
    Assignment,
    AssignmentPause,
    AssignmentSchedule,
    AssignmentStatus,
)
from app.assignments.occurrences import (
    Timeline,
    TimelineRow,
    build_timelines,
    load_timelines,
    parse_stored,
)
from app.assignments.recurrence import schedule_dates
from app.assignments.repository import list_page
from app.assignments.schedules import Reminders, ScheduleRead
from app.assignments.schemas import AssignmentCreate, AssignmentRead, AssignmentUpdate
from app.auth.models import User
from app.auth.principal import Principal
from app.clinics.repository import get_visible_client
from app.core.errors import Conflict, Unprocessable, field_error
from app.core.outbox import emit
from app.core.pagination import ListParams, Page, SortKey, paginate_fetched
from app.core.time import utcnow
from app.templates.models import TemplateStatus, TemplateVersion
from app.templates.repository import (
    TemplateVersionNotFound,
    definition_of,
    get_version,
    get_visible_template,
)

# The first schedule covers the whole past, so a start_date in the past shows its occurrences.
BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)
_TRANSITIONS = {
    AssignmentStatus.active: {
        AssignmentStatus.paused,
        AssignmentStatus.completed,
        AssignmentStatus.cancelled,
    },
    AssignmentStatus.paused: {
        AssignmentStatus.active,
        AssignmentStatus.completed,
        AssignmentStatus.cancelled,
    },
}


class InvalidTransition(Conflict):
    slug = "invalid-transition"


class TemplateArchived(Conflict):
    slug = "template-archived"


# Goals live a floor above assignments: their table is named here, never imported.
_goal = table("goal", column("id"), column("client_id"))


async def _check_goal(session: AsyncSession, goal_id: uuid.UUID, client_id: uuid.UUID) -> None:
    found = await session.scalar(
        select(_goal.c.id).where(_goal.c.id == goal_id, _goal.c.client_id == client_id)
    )
    if found is None:
        raise Unprocessable(
            "The goal does not exist or belongs to another client.",
            errors=[field_error(["body", "goal_id"], "No such goal for this client", "not_found")],
        )


def last_date_of(schedule: ScheduleRead) -> date | None:
    """The last local date the schedule can produce, or None when it is open-ended."""
    if schedule.end_date is not None:
        return schedule.end_date
    parts = schedule.rule_parts()
    if parts is None:
        return schedule.start_date
    if parts.until is not None:
        return parts.until
    if schedule.count or parts.count:
        dates = schedule_dates(
            schedule, schedule.start_date, schedule.start_date + timedelta(days=366 * 100)
        )
        return dates[-1] if dates else schedule.start_date
    return None


async def assignment_reads(
    session: AsyncSession, assignments: list[Assignment]
) -> list[AssignmentRead]:
    """Assignments as the API shows them: the timelines of all of them in one load."""
    return reads_of(assignments, await load_timelines(session, assignments))


def reads_of(
    assignments: list[Assignment], timelines: dict[uuid.UUID, Timeline]
) -> list[AssignmentRead]:
    now = utcnow()
    return [assignment_read(a, timelines[a.id], now) for a in assignments]


async def _announce(session: AsyncSession, assignment: Assignment, type_: str) -> AssignmentRead:
    """The assignment as the API answers it, queued as the payload of the event `type_`."""
    read = (await assignment_reads(session, [assignment]))[0]
    emit(session, type_, read)
    return read


async def list_assignments(
    session: AsyncSession,
    principal: Principal,
    params: ListParams,
    *,
    client_id: uuid.UUID | None = None,
    status: AssignmentStatus | None = None,
    template_id: uuid.UUID | None = None,
    goal_id: uuid.UUID | None = None,
) -> Page[AssignmentRead]:
    timeline_rows: list[TimelineRow] = []

    async def fetch(limit: int, after: list[Any] | None) -> list[Any]:
        page, timelines = await list_page(
            session,
            principal,
            limit,
            after[0] if after else None,
            params.updated_since,
            client_id=client_id,
            status=status,
            template_id=template_id,
            goal_id=goal_id,
        )
        timeline_rows.extend(timelines)
        return page

    rows, cursor = await paginate_fetched(fetch, params, [SortKey(Assignment.id)])
    return Page(items=reads_of(rows, build_timelines(rows, timeline_rows)), next_cursor=cursor)


async def create_assignment(
    session: AsyncSession, principal: Principal, body: AssignmentCreate
) -> AssignmentRead:
    """Give the client the template; announced as `assignment.created`."""
    assignment = await _add_assignment(session, principal, body)
    return await _announce(session, assignment, "assignment.created")


async def assignable_version(
    session: AsyncSession, principal: Principal, template_id: uuid.UUID, number: int | None
) -> TemplateVersion:
    """The version of a template the principal may assign (the latest when `number` is None);
    an archived template or a missing version is a 422 naming the body's field."""
    template = await get_visible_template(session, principal, template_id)
    if template.status == TemplateStatus.archived:
        raise TemplateArchived(
            "This template is archived; it cannot be assigned any more.",
            errors=[field_error(["body", "template_id"], "Archived", "archived")],
        )
    try:
        return await get_version(session, template, number or template.version)
    except TemplateVersionNotFound:
        raise Unprocessable(
            "The template has no such version.",
            errors=[field_error(["body", "template_version"], "No such version", "not_found")],
        ) from None


async def _add_assignment(
    session: AsyncSession, principal: Principal, body: AssignmentCreate
) -> Assignment:
    client = await get_visible_client(session, principal, body.client_id)
    version = await assignable_version(session, principal, body.template_id, body.template_version)
    if body.goal_id is not None:
        await _check_goal(session, body.goal_id, client.id)
    return await insert_assignment(
        session,
        clinic_id=client.clinic_id,
        client_id=client.id,
        version=version,
        title=body.title,
        instructions=body.instructions,
        estimated_minutes=body.estimated_minutes,
        schedule=body.schedule.resolved(client.timezone),
        reminders=body.reminders,
        goal_id=body.goal_id,
        created_by_id=None if principal.is_api_client else principal.id,
    )


async def insert_assignment(
    session: AsyncSession,
    *,
    clinic_id: uuid.UUID,
    client_id: uuid.UUID,
    version: TemplateVersion,
    title: str | None,
    instructions: str,
    estimated_minutes: int | None,
    schedule: ScheduleRead,
    reminders: Reminders,
    goal_id: uuid.UUID | None = None,
    enrolment_id: uuid.UUID | None = None,
    group_assignment_id: uuid.UUID | None = None,
    created_by_id: uuid.UUID | None = None,
) -> Assignment:
    """Store an assignment of a template version whose access was checked by the caller (a
    request's, or a program step released by a completion or the worker)."""
    definition = definition_of(version)
    assignment = Assignment(
        clinic_id=clinic_id,
        client_id=client_id,
        template_id=version.template_id,
        template_version_id=version.id,
        template_version=version.number,
        template_kind=definition.kind,
        title=title or definition.title,
        instructions=instructions,
        goal_id=goal_id,
        enrolment_id=enrolment_id,
        group_assignment_id=group_assignment_id,
        estimated_minutes=estimated_minutes or definition.estimated_minutes,
        schedule=schedule.model_dump(mode="json"),
        reminders=reminders.model_dump(mode="json"),
        first_date=schedule.start_date,
        last_date=last_date_of(schedule),
        created_by_id=created_by_id,
    )
    session.add(assignment)
    await session.flush()
    session.add(
        AssignmentSchedule(
            clinic_id=assignment.clinic_id,
            assignment_id=assignment.id,
            schedule=assignment.schedule,
            effective_from=BEGINNING,
        )
    )
    await session.flush()
    await refresh_next_reminder(session, assignment)
    return assignment


async def _change_schedule(
    session: AsyncSession, assignment: Assignment, schedule: ScheduleRead, now: datetime
) -> None:
    await session.execute(
        update(AssignmentSchedule)
        .where(
            AssignmentSchedule.assignment_id == assignment.id,
            AssignmentSchedule.effective_to.is_(None),
        )
        .values(effective_to=now)
    )
    stored = schedule.model_dump(mode="json")
    session.add(
        AssignmentSchedule(
            clinic_id=assignment.clinic_id,
            assignment_id=assignment.id,
            schedule=stored,
            effective_from=now,
        )
    )
    assignment.schedule = stored
    assignment.first_date = min(assignment.first_date, schedule.start_date)
    new_last = last_date_of(schedule)
    if assignment.last_date is not None:
        assignment.last_date = None if new_last is None else max(assignment.last_date, new_last)


async def _transition(
    session: AsyncSession, assignment: Assignment, target: AssignmentStatus, now: datetime
) -> None:
    current = AssignmentStatus(assignment.status)
    if target == current:
        return
    if target not in _TRANSITIONS.get(current, set()):
        raise InvalidTransition(
            f"An assignment cannot go from {current} to {target}.",
            errors=[field_error(["body", "status"], "Invalid transition", "transition")],
        )
    if target == AssignmentStatus.paused:
        session.add(
            AssignmentPause(
                clinic_id=assignment.clinic_id, assignment_id=assignment.id, paused_at=now
            )
        )
    if current == AssignmentStatus.paused:
        await session.execute(
            update(AssignmentPause)
            .where(
                AssignmentPause.assignment_id == assignment.id, AssignmentPause.resumed_at.is_(None)
            )
            .values(resumed_at=now)
        )
    if target in FINAL_STATUSES:
        assignment.ended_at = now
    assignment.status = target


async def update_assignment(
    session: AsyncSession, assignment: Assignment, body: AssignmentUpdate
) -> AssignmentRead:
    """Change what was sent; announced as `assignment.updated`, or `assignment.cancelled`
    when the change cancels it."""
    await _change(session, assignment, body)
    cancelled = body.status == AssignmentStatus.cancelled
    return await _announce(
        session, assignment, "assignment.cancelled" if cancelled else "assignment.updated"
    )


async def _client_timezone(session: AsyncSession, client_id: uuid.UUID) -> str:
    return str(await session.scalar(select(User.timezone).where(User.id == client_id)))


async def _change(session: AsyncSession, assignment: Assignment, body: AssignmentUpdate) -> None:
    if AssignmentStatus(assignment.status) in FINAL_STATUSES and body.model_fields_set - {"status"}:
        raise InvalidTransition(f"A {assignment.status} assignment cannot change any more.")
    now = utcnow()
    for name in ("title", "instructions", "estimated_minutes"):
        value = getattr(body, name)
        if name in body.model_fields_set and value is not None:
            setattr(assignment, name, value)
    if "goal_id" in body.model_fields_set:
        if body.goal_id is not None:
            await _check_goal(session, body.goal_id, assignment.client_id)
        assignment.goal_id = body.goal_id
    if body.reminders is not None:
        assignment.reminders = body.reminders.model_dump(mode="json")
    if body.schedule is not None:
        # A schedule without its own zone takes the client's: read only when one is sent.
        client_timezone = await _client_timezone(session, assignment.client_id)
        await _change_schedule(session, assignment, body.schedule.resolved(client_timezone), now)
    if body.status is not None:
        await _transition(session, assignment, body.status, now)
    await session.flush()
    await refresh_next_reminder(session, assignment)


async def cancel_assignment(session: AsyncSession, assignment: Assignment) -> None:
    """Cancel it (again is a no-op); announced as `assignment.cancelled` either way."""
    await cancel_assignments(session, [assignment])


async def cancel_assignments(session: AsyncSession, assignments: Sequence[Assignment]) -> None:
    """Cancel each (one cancelled already stays so; a completed one is a 409), each announced
    as `assignment.cancelled`: the answers of all of them built in one load."""
    now = utcnow()
    for assignment in assignments:
        if assignment.status == AssignmentStatus.cancelled:
            continue
        if AssignmentStatus(assignment.status) == AssignmentStatus.completed:
            raise InvalidTransition("A completed assignment cannot be cancelled.")
        await _transition(session, assignment, AssignmentStatus.cancelled, now)
    await session.flush()
    for assignment in assignments:
        await refresh_next_reminder(session, assignment)
    for read in await assignment_reads(session, list(assignments)):
        emit(session, "assignment.cancelled", read)


async def refresh_next_reminder(
    session: AsyncSession, assignment: Assignment, after: datetime | None = None
) -> None:
    """Keep `next_reminder_at` current, so the worker finds due reminders by index."""

    value = None
    if assignment.status == AssignmentStatus.active:
        timeline = (await load_timelines(session, [assignment]))[assignment.id]
        reminders = Reminders.model_validate(assignment.reminders)
        value = timeline.next_reminder_at(reminders, after or utcnow())
    if assignment.next_reminder_at != value:
        # Bookkeeping for the worker, not a change of the resource: no version bump.
        await session.execute(
            update(Assignment)
            .where(Assignment.id == assignment.id)
            .values(next_reminder_at=value)
            .execution_options(synchronize_session=False)
        )
        set_committed_value(assignment, "next_reminder_at", value)


def assignment_read(assignment: Assignment, timeline: Timeline, now: datetime) -> AssignmentRead:
    reminders = parse_stored(Reminders, assignment.reminders)
    active = assignment.status == AssignmentStatus.active
    return AssignmentRead(
        id=assignment.id,
        clinic_id=assignment.clinic_id,
        client_id=assignment.client_id,
        template_id=assignment.template_id,
        template_version=assignment.template_version,
        template_kind=assignment.template_kind,
        title=assignment.title,
        instructions=assignment.instructions,
        goal_id=assignment.goal_id,
        estimated_minutes=assignment.estimated_minutes,
        schedule=parse_stored(ScheduleRead, assignment.schedule),
        reminders=reminders,
        status=assignment.status,
        created_by_id=assignment.created_by_id,
        next_occurrence_at=timeline.next_occurrence_at(now) if active else None,
        next_reminder_at=timeline.next_reminder_at(reminders, now) if active else None,
        created_at=assignment.created_at,
        updated_at=assignment.updated_at,
        version=assignment.version,
    )
