"""Releasing program steps: when each step is due, giving it as an assignment exactly once,
and what a completion of a step's assignment changes, in the completion's own transaction.

Exactly once. A released step is a row of `enrolment_step`, unique per (enrolment, position):
it is inserted with ON CONFLICT DO NOTHING before its assignment is made, so a second
completion, a second worker or a retried round finds it taken and makes nothing. Whoever
advances an enrolment holds its row (`FOR UPDATE`; SQLite serializes writers), and a
completion counts itself on the step row with one `UPDATE ... RETURNING`, which waits for a
concurrent completion of the same step: the count that reaches the step's need is seen once.

Days are the client's local days in the enrolment's time zone: a step due on a day is released
at that day's local midnight (across daylight-saving changes), by the worker.
"""

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.assignments.models import FINAL_STATUSES, Assignment, AssignmentStatus
from app.assignments.occurrences import AssignmentFacts, Timeline
from app.assignments.recurrence import Occurrence
from app.assignments.schemas import AssignmentUpdate
from app.assignments.service import assignment_reads, insert_assignment, update_assignment
from app.core.db import insert_unless_taken
from app.core.ids import new_id
from app.core.outbox import emit, record_event
from app.core.time import local_day, utcnow
from app.programs.models import Enrolment, EnrolmentStatus, EnrolmentStep, StepState
from app.programs.repository import Definition, definition_by_id, steps_of
from app.programs.schemas import StepReleased, StoredStep
from app.templates.models import TemplateVersion

DONE = frozenset({StepState.completed, StepState.skipped})


def local_midnight(day: date, timezone: str) -> datetime:
    """The instant a local day begins (UTC). A zone that skips midnight on a DST day begins
    it at the first wall-clock time that exists: zoneinfo moves a missing time forward."""
    tz = ZoneInfo(timezone)
    start = datetime.combine(day, time(0), tzinfo=tz)
    return start.astimezone(ZoneInfo("UTC"))


@dataclass
class Progress:
    """An enrolment, its version's steps, and the rows of the steps that left `locked`
    (by position, 1 for the first)."""

    enrolment: Enrolment
    definition: Definition
    steps: dict[int, EnrolmentStep]

    def step(self, position: int) -> StoredStep:
        return self.definition.steps[position - 1]

    def due_at(self, position: int) -> datetime | None:
        """When the locked step at `position` is released; None while it waits for a
        completion (or a skip) of the previous step."""
        e, rule = self.enrolment, self.step(position).release
        if rule.type == "immediately":
            return local_midnight(e.started_on, e.timezone)
        if rule.type == "on_enrolment_day":
            return local_midnight(e.started_on + timedelta(days=rule.day - 1), e.timezone)
        if rule.type == "on_date":
            return local_midnight(rule.date, e.timezone)
        done_at = self.previous_done_at(position)
        if done_at is None or rule.type == "after_previous_completed":
            return done_at
        done_on = local_day(done_at, e.timezone)
        return local_midnight(done_on + timedelta(days=rule.days), e.timezone)

    def previous_done_at(self, position: int) -> datetime | None:
        """When the step before `position` was completed or skipped. One skipped before it was
        ever released is passed over: it is done when it would have been released."""
        previous = self.steps.get(position - 1)
        if previous is None or previous.state not in DONE:
            return None
        if previous.state == StepState.skipped and previous.released_at is None:
            return self.due_at(position - 1)
        return previous.finished_at

    def locked(self) -> list[int]:
        return [p for p in range(1, len(self.definition.steps) + 1) if p not in self.steps]

    def next_release_at(self) -> datetime | None:
        dues = [d for d in (self.due_at(p) for p in self.locked()) if d is not None]
        return min(dues) if dues else None

    def finished(self) -> bool:
        """Every required step is completed (or skipped because the next one started)."""
        return all(
            self.steps.get(p) is not None and self.steps[p].state in DONE
            for p, step in enumerate(self.definition.steps, start=1)
            if not step.optional
        )


async def load_progress(session: AsyncSession, enrolment: Enrolment) -> Progress:
    definition = await definition_by_id(session, enrolment.program_version_id)
    steps = (await steps_of(session, [enrolment.id]))[enrolment.id]
    return Progress(enrolment, definition, steps)


async def advance(session: AsyncSession, progress: Progress, now: datetime) -> list[int]:
    """Release every locked step that is due by `now` (a release can make the next one due),
    then note when the worker must look again and whether the enrolment is complete. The
    caller holds the enrolment's row. Returns the positions released."""
    enrolment = progress.enrolment
    released: list[int] = []
    if enrolment.status != EnrolmentStatus.active:
        return released
    moved = True
    while moved:
        moved = False
        for position in progress.locked():
            due = progress.due_at(position)
            if due is not None and due <= now:
                if await _release(session, progress, position, now):
                    released.append(position)
                if position in progress.steps:  # released now, or found released
                    moved = True
    next_release = progress.next_release_at()
    if enrolment.next_release_at != next_release:
        enrolment.next_release_at = next_release
    if progress.finished():
        enrolment.status = EnrolmentStatus.completed
        enrolment.completed_at = now
        enrolment.next_release_at = None
    if released or enrolment.status == EnrolmentStatus.completed:
        enrolment.updated_at = now
    await session.flush()
    if enrolment.status == EnrolmentStatus.completed:
        await announce_enrolment(session, progress, "enrolment.completed")
    return released


async def announce_enrolment(session: AsyncSession, progress: Progress, type_: str) -> None:
    from app.programs.views import enrolment_read  # a view of what this module writes

    emit(session, type_, enrolment_read(progress))


async def _release(
    session: AsyncSession, progress: Progress, position: int, now: datetime
) -> EnrolmentStep | None:
    """Claim the step's row, then give its assignment. None when another transaction
    released it first (the row is then read, so the caller sees the step as it is)."""
    enrolment, step = progress.enrolment, progress.step(position)
    needed = step.completed_when.count if step.completed_when.type == "completions" else None
    claimed = (
        await session.execute(
            insert_unless_taken(
                session,
                EnrolmentStep,
                {
                    "id": new_id(),
                    "clinic_id": enrolment.clinic_id,
                    "enrolment_id": enrolment.id,
                    "position": position,
                    "state": StepState.released,
                    "completions_needed": needed,
                    "done_count": 0,
                    "released_at": now,
                },
            ).returning(EnrolmentStep)
        )
    ).scalar_one_or_none()
    if claimed is None:
        taken = await session.scalar(
            select(EnrolmentStep).where(
                EnrolmentStep.enrolment_id == enrolment.id, EnrolmentStep.position == position
            )
        )
        if taken is not None:
            progress.steps[position] = taken
        return None
    progress.steps[position] = claimed
    version = await session.scalar(
        select(TemplateVersion).where(
            TemplateVersion.template_id == step.template_id,
            TemplateVersion.number == step.template_version,
        )
    )
    if version is None:  # a clinic template deleted with its clinic: nothing left to give
        claimed.state = StepState.skipped
        claimed.finished_at = now
        return claimed
    assignment = await insert_assignment(
        session,
        clinic_id=enrolment.clinic_id,
        client_id=enrolment.client_id,
        version=version,
        title=step.title,
        instructions=step.instructions,
        estimated_minutes=step.estimated_minutes,
        schedule=step.schedule.starting(local_day(now, enrolment.timezone), enrolment.timezone),
        reminders=step.reminders,
        enrolment_id=enrolment.id,
        created_by_id=enrolment.created_by_id,
    )
    claimed.assignment_id = assignment.id
    await _end_previous(session, progress, position, now)
    await session.flush()
    emit(session, "assignment.created", (await assignment_reads(session, [assignment]))[0])
    payload = StepReleased(
        id=enrolment.id,
        clinic_id=enrolment.clinic_id,
        client_id=enrolment.client_id,
        program_id=enrolment.program_id,
        program_version=enrolment.program_version,
        position=position,
        assignment_id=assignment.id,
        released_at=now,
    )
    record_event(
        session,
        "program.step_released",
        resource_type="enrolment",
        resource_id=enrolment.id,
        clinic_id=enrolment.clinic_id,
        client_id=enrolment.client_id,
        payload=payload.model_dump(mode="json"),
    )
    return claimed


async def _end_previous(
    session: AsyncSession, progress: Progress, position: int, now: datetime
) -> None:
    """A step that ends when the next starts: its assignment is completed, and the step is
    skipped unless it was completed already."""
    previous = progress.steps.get(position - 1)
    if previous is None or not progress.step(position - 1).ends_when_next_starts:
        return
    if previous.state == StepState.released:
        previous.state = StepState.skipped
        previous.finished_at = now
    await move_assignment(session, previous.assignment_id, AssignmentStatus.completed)


async def move_assignment(
    session: AsyncSession, assignment_id: uuid.UUID | None, status: AssignmentStatus
) -> None:
    """Move a step's assignment to `status` (announced as an assignment change) unless it is
    already there or ended."""
    if assignment_id is None:
        return
    assignment = await session.get(Assignment, assignment_id)
    if assignment is None or AssignmentStatus(assignment.status) in FINAL_STATUSES:
        return
    if assignment.status != status:
        await update_assignment(session, assignment, AssignmentUpdate(status=status))


def is_last_occurrence(
    assignment: AssignmentFacts, timeline: Timeline, occurrence: Occurrence
) -> bool:
    if assignment.last_date is None or occurrence.local_date != assignment.last_date:
        return False
    that_day = timeline.occurrences(assignment.last_date, assignment.last_date)
    return bool(that_day) and that_day[-1].local_time == occurrence.local_time


async def on_completion(
    session: AsyncSession, assignment: AssignmentFacts, timeline: Timeline, occurrence: Occurrence
) -> None:
    """A done completion of a program step's assignment (`assignment.enrolment_id` is set):
    count it on the step (one statement), and when that completes the step, release what
    follows in this same transaction."""
    row = (
        await session.execute(
            update(EnrolmentStep)
            .where(
                EnrolmentStep.assignment_id == assignment.id,
                EnrolmentStep.clinic_id == assignment.clinic_id,
            )
            .values(done_count=EnrolmentStep.done_count + 1)
            .returning(
                EnrolmentStep.enrolment_id,
                EnrolmentStep.state,
                EnrolmentStep.completions_needed,
                EnrolmentStep.done_count,
            )
            .execution_options(synchronize_session=False)
        )
    ).one_or_none()
    if row is None or row.state != StepState.released:
        return
    needed, done = row.completions_needed, row.done_count
    met = (
        done == needed
        if needed is not None
        else is_last_occurrence(assignment, timeline, occurrence)
    )
    if not met:
        return
    enrolment = await session.scalar(
        select(Enrolment)
        .where(Enrolment.id == row.enrolment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if enrolment is None:
        return
    progress = await load_progress(session, enrolment)
    step = next(s for s in progress.steps.values() if s.assignment_id == assignment.id)
    if step.state != StepState.released:
        return
    now = utcnow()
    step.state = StepState.completed
    step.finished_at = now
    await session.flush()
    await advance(session, progress, now)


async def on_completion_undone(session: AsyncSession, assignment: Assignment) -> None:
    """A done completion of a step's assignment edited to skipped: it no longer counts for a
    step still waiting for its completions (a step completed already stays completed, and
    what it released stays released)."""
    await session.execute(
        update(EnrolmentStep)
        .where(
            EnrolmentStep.assignment_id == assignment.id,
            EnrolmentStep.clinic_id == assignment.clinic_id,
            EnrolmentStep.state == StepState.released,
            EnrolmentStep.done_count > 0,
        )
        .values(done_count=EnrolmentStep.done_count - 1)
        .execution_options(synchronize_session=False)
    )
