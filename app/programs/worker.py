"""The program worker: releases the steps whose day has come (time-based release rules).

Each round claims the active enrolments whose `next_release_at` has passed with
`FOR UPDATE SKIP LOCKED` (so workers take different enrolments; SQLite serializes writers) and
advances each in the round's transaction. A crash before COMMIT rolls the round back, step
rows, assignments and events together; the next round finds the same enrolments due and
releases their steps once (the unique (enrolment, position) row is the backstop).
"""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.assignments.models import Assignment, AssignmentStatus
from app.core.time import utcnow
from app.core.transactions import writing
from app.programs.models import Enrolment, EnrolmentStatus, EnrolmentStep, StepState
from app.programs.release import Progress, advance, announce_enrolment, load_progress
from app.programs.repository import definition_by_id, steps_of

ENROLMENTS_PER_ROUND = 50
MAX_BATCHES = 20


async def release_due_steps(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    now: datetime | None = None,
    batch: int = ENROLMENTS_PER_ROUND,
) -> int:
    """Release every step due by `now` (up to MAX_BATCHES batches of enrolments, one
    transaction each). Returns how many steps were released."""
    now = now or utcnow()
    released = await skip_cancelled_steps(sessionmaker, now=now, batch=batch)
    for _ in range(MAX_BATCHES):
        async with writing(sessionmaker) as session:
            enrolments = list(
                (
                    await session.execute(
                        select(Enrolment)
                        .where(
                            Enrolment.status == EnrolmentStatus.active,
                            Enrolment.next_release_at <= now,
                        )
                        .order_by(Enrolment.next_release_at)
                        .limit(batch)
                        .with_for_update(skip_locked=True)
                    )
                ).scalars()
            )
            steps = await steps_of(session, [e.id for e in enrolments])
            for enrolment in enrolments:
                definition = await definition_by_id(session, enrolment.program_version_id)
                progress = Progress(enrolment, definition, steps[enrolment.id])
                released += len(await advance(session, progress, now))
        if len(enrolments) < batch:
            break
    return released


# Released steps whose assignment is cancelled: (enrolment, assignment).
_cancelled_steps = (
    select(EnrolmentStep.enrolment_id, EnrolmentStep.assignment_id)
    .join(Assignment, Assignment.id == EnrolmentStep.assignment_id)
    .where(
        EnrolmentStep.state == StepState.released,
        Assignment.status == AssignmentStatus.cancelled,
    )
    .subquery()
)


async def skip_cancelled_steps(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    now: datetime | None = None,
    batch: int = ENROLMENTS_PER_ROUND,
) -> int:
    """A released step whose assignment was cancelled by hand (a therapist's PATCH or DELETE
    of the assignment, not the enrolment's end) is skipped, as an optional step's skip: the
    next step's rule counts it as done, and the enrolment can complete. Returns how many steps
    the advances released."""
    now = now or utcnow()
    released = 0
    async with writing(sessionmaker) as session:
        enrolments = list(
            (
                await session.execute(
                    select(Enrolment)
                    .where(
                        Enrolment.status == EnrolmentStatus.active,
                        Enrolment.id.in_(select(_cancelled_steps.c.enrolment_id)),
                    )
                    .limit(batch)
                    .with_for_update(skip_locked=True)
                )
            ).scalars()
        )
        # A cancelled assignment stays cancelled: read once the enrolments are held.
        cancelled = set(
            (
                await session.execute(
                    select(_cancelled_steps.c.assignment_id).where(
                        _cancelled_steps.c.enrolment_id.in_([e.id for e in enrolments])
                    )
                )
            ).scalars()
        )
        for enrolment in enrolments:
            progress = await load_progress(session, enrolment)
            for step in progress.steps.values():
                if step.state == StepState.released and step.assignment_id in cancelled:
                    step.state, step.finished_at = StepState.skipped, now
            enrolment.updated_at = now
            await session.flush()
            released += len(await advance(session, progress, now))
            await announce_enrolment(session, progress, "enrolment.updated")
    return released
