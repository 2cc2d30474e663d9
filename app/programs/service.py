"""Programs: the built-in ones kept in sync, clinic programs created, cloned and versioned;
enrolments made, paused, resumed and ended, and optional steps skipped."""

import uuid
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.assignments.models import AssignmentStatus
from app.auth.principal import Principal
from app.clinics.repository import get_visible_client
from app.core.db import insert_unless_taken
from app.core.errors import Conflict, Forbidden, Unprocessable, field_error
from app.core.etag import check_if_match
from app.core.ids import new_id
from app.core.outbox import emit
from app.core.pagination import ListParams, Page, SortKey, paginate_rows
from app.core.time import utcnow
from app.programs.library import builtin_program_id, builtin_program_version_id, builtin_programs
from app.programs.models import (
    BUILTIN_OWNER,
    Enrolment,
    EnrolmentStatus,
    EnrolmentStep,
    Program,
    ProgramSource,
    ProgramVersion,
    StepState,
)
from app.programs.release import (
    Progress,
    advance,
    announce_enrolment,
    load_progress,
    local_day,
    move_assignment,
)
from app.programs.repository import (
    Definition,
    definition_of,
    definitions_by_ids,
    get_program_version,
    get_visible_enrolment,
    get_visible_program,
    matching_enrolments,
    matching_programs,
    steps_of,
    stored,
)
from app.programs.schemas import (
    EnrolmentCreate,
    EnrolmentRead,
    EnrolmentUpdate,
    ProgramCreate,
    ProgramPatch,
    ProgramStep,
    ProgramSummary,
    ProgramUpdate,
    StoredStep,
)
from app.programs.views import enrolment_read
from app.templates.definitions import TemplateDefinition
from app.templates.models import BUILTIN_OWNER as TEMPLATE_BUILTIN
from app.templates.models import Template, TemplateVersion


class ProgramSlugTaken(Conflict):
    slug = "program-slug-taken"


class ProgramReadOnly(Forbidden):
    slug = "program-read-only"


class InvalidTransition(Conflict):
    slug = "invalid-transition"


class StepNotSkippable(Conflict):
    slug = "step-not-skippable"


# --- programs ---------------------------------------------------------------------------


async def _resolve_steps(
    session: AsyncSession, clinic_id: uuid.UUID | None, steps: list[ProgramStep]
) -> list[StoredStep]:
    """Pin each step's template version (the latest when not given) and title; a template
    the owner cannot use, or a version it does not have, is a 422 at that step."""
    ids = {s.template_id for s in steps}
    owners = [TEMPLATE_BUILTIN] + ([str(clinic_id)] if clinic_id else [])
    templates = {
        t.id: t
        for t in (
            await session.execute(
                select(Template).where(Template.id.in_(ids), Template.owner.in_(owners))
            )
        ).scalars()
    }
    versions = {
        (v.template_id, v.number): v
        for v in (
            await session.execute(
                select(TemplateVersion).where(TemplateVersion.template_id.in_(templates))
            )
        ).scalars()
    }
    errors: list[dict[str, Any]] = []
    resolved: list[StoredStep] = []
    for i, step in enumerate(steps):
        template = templates.get(step.template_id)
        if template is None:
            errors.append(
                field_error(["body", "steps", i, "template_id"], "No such template", "not_found")
            )
            continue
        version = versions.get((template.id, step.template_version or template.version))
        if version is None:
            errors.append(
                field_error(
                    ["body", "steps", i, "template_version"], "No such version", "not_found"
                )
            )
            continue
        title = step.title or TemplateDefinition.model_validate(version.definition).title
        resolved.append(
            StoredStep.model_validate(
                step.model_dump() | {"template_version": version.number, "title": title}
            )
        )
    if errors:
        raise Unprocessable("A step names a template that cannot be used.", errors=errors)
    return resolved


def _add_version(
    session: AsyncSession,
    program: Program,
    definition: Definition,
    number: int,
    created_by: uuid.UUID | None,
    version_id: uuid.UUID | None = None,
) -> ProgramVersion:
    program.version = number
    program.title = definition.title
    program.updated_at = utcnow()
    version = ProgramVersion(
        id=version_id or new_id(),
        program_id=program.id,
        clinic_id=program.clinic_id,
        number=number,
        definition=stored(definition),
        created_by_id=created_by,
    )
    session.add(version)
    return version


async def sync_builtins(session: AsyncSession) -> int:
    """Make the stored built-in programs match the code (after the built-in templates): a
    changed program gets a new version, old versions stay. Returns versions published."""
    published = 0
    for builtin in builtin_programs():
        fields = builtin.fields
        assert fields.title is not None and fields.steps is not None
        definition = Definition(
            title=fields.title,
            description=fields.description or "",
            steps=await _resolve_steps(session, None, fields.steps),
        )
        program_id = builtin_program_id(builtin.slug)
        program = await session.get(Program, program_id)
        number = 1
        if program is None:
            program = Program(
                id=program_id,
                owner=BUILTIN_OWNER,
                slug=builtin.slug,
                source=ProgramSource.builtin,
                title=definition.title,
                version=1,
            )
            session.add(program)
            await session.flush()
        else:
            latest = await get_program_version(session, program, program.version)
            if latest.definition == stored(definition):
                continue
            number = program.version + 1
        _add_version(
            session,
            program,
            definition,
            number,
            None,
            builtin_program_version_id(builtin.slug, number),
        )
        published += 1
    await session.flush()
    return published


async def list_programs(
    session: AsyncSession, principal: Principal, params: ListParams
) -> Page[ProgramSummary]:
    stmt = matching_programs(principal, updated_since=params.updated_since)
    rows, cursor = await paginate_rows(session, stmt, params, [SortKey(Program.id)])
    return Page(items=[ProgramSummary.model_validate(p) for p in rows], next_cursor=cursor)


def _missing(name: str) -> dict[str, Any]:
    return field_error(["body", name], "Required unless based_on gives it", "missing")


async def _definition(
    session: AsyncSession,
    clinic_id: uuid.UUID,
    base: Definition | None,
    body: ProgramPatch,
) -> Definition:
    """The fields sent over the base's (steps are taken whole)."""
    title = body.title or (base.title if base else None)
    description = (
        body.description if body.description is not None else (base.description if base else "")
    )
    errors = []
    if title is None:
        errors.append(_missing("title"))
    if body.steps is None and base is None:
        errors.append(_missing("steps"))
    if errors:
        raise Unprocessable("A new program needs a title and steps.", errors=errors)
    assert title is not None
    if body.steps is not None:
        steps = await _resolve_steps(session, clinic_id, body.steps)
    else:
        assert base is not None
        steps = base.steps
    return Definition(title=title, description=description, steps=steps)


async def create_program(
    session: AsyncSession, principal: Principal, body: ProgramCreate
) -> tuple[Program, ProgramVersion]:
    base: Definition | None = None
    based_on: Program | None = None
    if body.based_on is not None:
        based_on = await get_visible_program(session, principal, body.based_on)
        base = definition_of(await get_program_version(session, based_on, based_on.version))
    definition = await _definition(session, principal.clinic_id, base, body)
    owner = str(principal.clinic_id)
    taken = await session.scalar(
        select(Program.id).where(Program.owner == owner, Program.slug == body.slug)
    )
    if taken is not None:
        raise _slug_taken()
    program = Program(
        owner=owner,
        clinic_id=principal.clinic_id,
        slug=body.slug,
        source=ProgramSource.clinic,
        title=definition.title,
        based_on_id=based_on.id if based_on else None,
        created_by_id=None if principal.is_api_client else principal.id,
    )
    session.add(program)
    try:
        await session.flush()
    except IntegrityError:
        raise _slug_taken() from None
    version = _add_version(session, program, definition, 1, program.created_by_id)
    await session.flush()
    return program, version


def _slug_taken() -> ProgramSlugTaken:
    return ProgramSlugTaken(
        "This clinic already has a program with this slug.",
        errors=[field_error(["body", "slug"], "Already in use", "unique")],
    )


async def update_program(
    session: AsyncSession,
    principal: Principal,
    program_id: uuid.UUID,
    body: ProgramUpdate,
    if_match: str | None,
) -> tuple[Program, ProgramVersion]:
    """Publish the program's next version; enrolments keep the version they have."""
    program = await get_visible_program(session, principal, program_id, for_update=True)
    if program.source == ProgramSource.builtin:
        raise ProgramReadOnly("Built-in programs are read-only; clone one with `based_on`.")
    check_if_match(if_match, program.version)
    current = await get_program_version(session, program, program.version)
    base = definition_of(current)
    definition = await _definition(session, principal.clinic_id, base, body)
    if definition == base:  # nothing changes: no new version
        return program, current
    version = _add_version(
        session,
        program,
        definition,
        program.version + 1,
        None if principal.is_api_client else principal.id,
    )
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict("Another version was published at the same time; fetch and retry.") from None
    return program, version


# --- enrolments -------------------------------------------------------------------------


async def enrol(
    session: AsyncSession, principal: Principal, program_id: uuid.UUID, body: EnrolmentCreate
) -> EnrolmentRead:
    """Enrol a client in the program's latest version: the steps due on day 1 are released
    now; announced as `enrolment.created` (after the releases' own events)."""
    program = await get_visible_program(session, principal, program_id)
    version = await get_program_version(session, program, program.version)
    client = await get_visible_client(session, principal, body.client_id)
    now = utcnow()
    today = local_day(now, client.timezone)
    start: date = body.start_date or today
    if start < today:
        raise Unprocessable(
            "An enrolment starts today or later.",
            errors=[field_error(["body", "start_date"], "In the past", "past")],
        )
    definition = definition_of(version)
    enrolment = Enrolment(
        clinic_id=client.clinic_id,
        client_id=client.id,
        program_id=program.id,
        program_version_id=version.id,
        program_version=version.number,
        title=definition.title,
        timezone=client.timezone,
        started_on=start,
        created_by_id=None if principal.is_api_client else principal.id,
    )
    session.add(enrolment)
    await session.flush()
    progress = Progress(enrolment, definition, {})
    await advance(session, progress, now)
    read = enrolment_read(progress)
    emit(session, "enrolment.created", read)
    return read


async def list_enrolments(
    session: AsyncSession,
    principal: Principal,
    params: ListParams,
    *,
    client_id: uuid.UUID | None = None,
    program_id: uuid.UUID | None = None,
    status: EnrolmentStatus | None = None,
) -> Page[EnrolmentRead]:
    stmt = matching_enrolments(
        principal,
        client_id=client_id,
        program_id=program_id,
        status=status,
        updated_since=params.updated_since,
    )
    rows, cursor = await paginate_rows(session, stmt, params, [SortKey(Enrolment.id)])
    steps = await steps_of(session, [e.id for e in rows])
    definitions = await definitions_by_ids(session, {e.program_version_id for e in rows})
    items = [
        enrolment_read(Progress(e, definitions[e.program_version_id], steps[e.id])) for e in rows
    ]
    return Page(items=items, next_cursor=cursor)


async def get_enrolment(
    session: AsyncSession, principal: Principal, enrolment_id: uuid.UUID
) -> EnrolmentRead:
    enrolment = await get_visible_enrolment(session, principal, enrolment_id)
    return enrolment_read(await load_progress(session, enrolment))


# What each enrolment status does to the released steps' assignments.
_ASSIGNMENTS_FOLLOW = {
    EnrolmentStatus.paused: AssignmentStatus.paused,
    EnrolmentStatus.active: AssignmentStatus.active,
    EnrolmentStatus.ended: AssignmentStatus.cancelled,
}
_TRANSITIONS = {
    EnrolmentStatus.active: {EnrolmentStatus.paused, EnrolmentStatus.ended},
    EnrolmentStatus.paused: {EnrolmentStatus.active, EnrolmentStatus.ended},
}


async def update_enrolment(
    session: AsyncSession,
    principal: Principal,
    enrolment_id: uuid.UUID,
    body: EnrolmentUpdate,
    if_match: str | None,
) -> EnrolmentRead:
    """Pause, resume or end: the released steps' assignments follow (paused, active again,
    cancelled). Resuming releases what fell due meanwhile. Announced as `enrolment.updated`."""
    enrolment = await get_visible_enrolment(session, principal, enrolment_id, for_update=True)
    check_if_match(if_match, enrolment.version)
    progress = await load_progress(session, enrolment)
    current, target = EnrolmentStatus(enrolment.status), EnrolmentStatus(body.status)
    if target == current:
        return enrolment_read(progress)
    if target not in _TRANSITIONS.get(current, set()):
        raise InvalidTransition(
            f"An enrolment cannot go from {current} to {target}.",
            errors=[field_error(["body", "status"], "Invalid transition", "transition")],
        )
    now = utcnow()
    for step in progress.steps.values():
        if step.state == StepState.released:
            await move_assignment(session, step.assignment_id, _ASSIGNMENTS_FOLLOW[target])
    enrolment.status = target
    enrolment.updated_at = now
    if target == EnrolmentStatus.ended:
        enrolment.ended_at = now
    if target == EnrolmentStatus.active:
        await advance(session, progress, now)
    else:
        enrolment.next_release_at = None
    await session.flush()
    await announce_enrolment(session, progress, "enrolment.updated")
    return enrolment_read(progress)


async def skip_step(
    session: AsyncSession, principal: Principal, enrolment_id: uuid.UUID, position: int
) -> EnrolmentRead:
    """Skip an optional step, locked or released (its assignment is completed): the next
    step's `after_previous_completed` counts it as done."""
    enrolment = await get_visible_enrolment(session, principal, enrolment_id, for_update=True)
    progress = await load_progress(session, enrolment)
    if not 1 <= position <= len(progress.definition.steps):
        raise Unprocessable(
            "The program has no such step.",
            errors=[field_error(["path", "position"], "No such step", "not_found")],
        )
    if enrolment.status != EnrolmentStatus.active:
        raise InvalidTransition(f"The enrolment is {enrolment.status}; its steps do not move.")
    if not progress.step(position).optional:
        raise StepNotSkippable("Only optional steps can be skipped.")
    now = utcnow()
    row = progress.steps.get(position)
    skipped_now = False
    if row is None:
        row = (
            await session.execute(
                insert_unless_taken(
                    session,
                    EnrolmentStep,
                    {
                        "id": new_id(),
                        "clinic_id": enrolment.clinic_id,
                        "enrolment_id": enrolment.id,
                        "position": position,
                        "state": StepState.skipped,
                        "done_count": 0,
                        "finished_at": now,
                    },
                ).returning(EnrolmentStep)
            )
        ).scalar_one_or_none()
        if row is None:  # released meanwhile (the enrolment's lock makes this rare): reread
            progress = await load_progress(session, enrolment)
            row = progress.steps[position]
        else:
            progress.steps[position] = row
            skipped_now = True
    if row.state in (StepState.completed, StepState.skipped) and not skipped_now:
        raise StepNotSkippable(f"The step is {row.state} already.")
    if row.state == StepState.released:
        row.state = StepState.skipped
        row.finished_at = now
        await move_assignment(session, row.assignment_id, AssignmentStatus.completed)
    enrolment.updated_at = now
    await session.flush()
    await advance(session, progress, now)
    await announce_enrolment(session, progress, "enrolment.updated")
    return enrolment_read(progress)
