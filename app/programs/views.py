"""Programs and enrolments as the API answers them."""

from typing import TYPE_CHECKING

from app.programs.models import Program, ProgramVersion, StepState
from app.programs.repository import Definition, definition_of
from app.programs.schemas import (
    EnrolmentRead,
    EnrolmentStepRead,
    NextRelease,
    ProgramRead,
    ProgramStepRead,
    ProgramVersionRead,
    StoredStep,
)

if TYPE_CHECKING:
    from app.programs.release import Progress


def step_reads(definition: Definition) -> list[ProgramStepRead]:
    return [
        ProgramStepRead(position=i, **step.model_dump())
        for i, step in enumerate(definition.steps, start=1)
    ]


def program_read(program: Program, version: ProgramVersion) -> ProgramRead:
    definition = definition_of(version)
    return ProgramRead(
        id=program.id,
        slug=program.slug,
        source=program.source,
        title=definition.title,
        description=definition.description,
        version=program.version,
        clinic_id=program.clinic_id,
        based_on_id=program.based_on_id,
        created_at=program.created_at,
        updated_at=program.updated_at,
        steps=step_reads(definition),
    )


def version_read(program: Program, version: ProgramVersion) -> ProgramVersionRead:
    definition = definition_of(version)
    return ProgramVersionRead(
        program_id=program.id,
        version=version.number,
        title=definition.title,
        description=definition.description,
        steps=step_reads(definition),
        created_at=version.created_at,
    )


def _waiting_for(position: int, step: StoredStep, previous: StoredStep | None) -> str:
    rule = step.release
    if rule.type == "immediately":
        return "the enrolment's first day"
    if rule.type == "on_enrolment_day":
        return f"day {rule.day} of the enrolment"
    if rule.type == "on_date":
        return f"{rule.date.isoformat()}"
    need = "its last occurrence done"
    if previous is not None and previous.completed_when.type == "completions":
        need = f"{previous.completed_when.count} done completions"
    done = f"step {position - 1} completed or skipped ({need})"
    if rule.type == "days_after_previous_completed":
        return f"{rule.days} days after {done}"
    return done


def enrolment_read(progress: "Progress") -> EnrolmentRead:
    e, definition = progress.enrolment, progress.definition
    steps: list[EnrolmentStepRead] = []
    next_release: NextRelease | None = None
    for position, step in enumerate(definition.steps, start=1):
        row = progress.steps.get(position)
        due = progress.due_at(position) if row is None else None
        steps.append(
            EnrolmentStepRead(
                position=position,
                title=step.title,
                template_id=step.template_id,
                template_version=step.template_version,
                optional=step.optional,
                state=row.state if row is not None else StepState.locked,
                release=step.release,
                completed_when=step.completed_when,
                assignment_id=row.assignment_id if row is not None else None,
                released_at=row.released_at if row is not None else None,
                finished_at=row.finished_at if row is not None else None,
                completions_done=row.done_count if row is not None else 0,
                releases_at=due,
            )
        )
        if row is None and next_release is None and e.status in ("active", "paused"):
            previous = definition.steps[position - 2] if position > 1 else None
            next_release = NextRelease(
                position=position,
                releases_at=due,
                waiting_for=_waiting_for(position, step, previous),
            )
    return EnrolmentRead(
        id=e.id,
        clinic_id=e.clinic_id,
        client_id=e.client_id,
        program_id=e.program_id,
        program_version=e.program_version,
        title=e.title,
        status=e.status,
        timezone=e.timezone,
        started_on=e.started_on,
        completed_at=e.completed_at,
        ended_at=e.ended_at,
        created_by_id=e.created_by_id,
        steps=steps,
        next_release=next_release,
        created_at=e.created_at,
        updated_at=e.updated_at,
        version=e.version,
    )
