"""Program and enrolment statements scoped to the principal."""

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.clinics.repository import ClientOwnedRows
from app.core.errors import NotFound
from app.core.pagination import changed_since
from app.programs.models import (
    BUILTIN_OWNER,
    Enrolment,
    EnrolmentStatus,
    EnrolmentStep,
    Program,
    ProgramVersion,
)
from app.programs.schemas import StoredStep


class ProgramNotFound(NotFound):
    slug = "program-not-found"


class ProgramVersionNotFound(NotFound):
    slug = "program-version-not-found"


class EnrolmentNotFound(NotFound):
    slug = "enrolment-not-found"


class Definition(BaseModel):
    """A published version's content, parsed."""

    title: str
    description: str
    steps: list[StoredStep]


def visible_programs(principal: Principal) -> Select[Program]:
    """Built-in programs and the clinic's own; a client sees those they are enrolled in."""
    stmt = select(Program).where(
        or_(Program.owner == BUILTIN_OWNER, Program.clinic_id == principal.clinic_id)
    )
    if principal.is_client:
        enrolled = select(Enrolment.program_id).where(Enrolment.client_id == principal.id)
        stmt = stmt.where(Program.id.in_(enrolled))
    return stmt


def matching_programs(
    principal: Principal, *, updated_since: datetime | None = None
) -> Select[Program]:
    return changed_since(visible_programs(principal), Program.updated_at, updated_since)


async def get_visible_program(
    session: AsyncSession, principal: Principal, program_id: uuid.UUID, *, for_update: bool = False
) -> Program:
    stmt = visible_programs(principal).where(Program.id == program_id)
    if for_update:
        stmt = stmt.with_for_update()
    program = (await session.execute(stmt)).scalar_one_or_none()
    if program is None:
        raise ProgramNotFound("No such program.")
    return program


async def get_program_version(
    session: AsyncSession, program: Program, number: int
) -> ProgramVersion:
    version = (
        await session.execute(
            select(ProgramVersion).where(
                ProgramVersion.program_id == program.id, ProgramVersion.number == number
            )
        )
    ).scalar_one_or_none()
    if version is None:
        raise ProgramVersionNotFound(f"Program has no version {number}.")
    return version


_PARSED: dict[uuid.UUID, Definition] = {}


def definition_of(version: ProgramVersion) -> Definition:
    """Versions are immutable, so their parsed definitions are cached by version id."""
    parsed = _PARSED.get(version.id)
    if parsed is None:
        parsed = Definition.model_validate(version.definition)
        if len(_PARSED) >= 1024:
            _PARSED.clear()
        _PARSED[version.id] = parsed
    return parsed


async def definition_by_id(session: AsyncSession, version_id: uuid.UUID) -> Definition:
    """Read from the database only the first time this process meets the version."""
    parsed = _PARSED.get(version_id)
    if parsed is not None:
        return parsed
    version = await session.get(ProgramVersion, version_id)
    if version is None:
        raise ProgramVersionNotFound("No such program version.")
    return definition_of(version)


async def definitions_by_ids(
    session: AsyncSession, version_ids: set[uuid.UUID]
) -> dict[uuid.UUID, Definition]:
    """definition_by_id for many versions: those not met yet in one statement."""
    found = {v: _PARSED[v] for v in version_ids if v in _PARSED}
    missing = [v for v in version_ids if v not in found]
    if missing:
        rows = await session.scalars(select(ProgramVersion).where(ProgramVersion.id.in_(missing)))
        found |= {version.id: definition_of(version) for version in rows}
    if len(found) < len(version_ids):
        raise ProgramVersionNotFound("No such program version.")
    return found


def stored(definition: Definition) -> dict[str, Any]:
    return definition.model_dump(mode="json")


_enrolments = ClientOwnedRows(Enrolment, EnrolmentNotFound, "No such enrolment.")
visible_enrolments = _enrolments.visible
get_visible_enrolment = _enrolments.get


def matching_enrolments(
    principal: Principal,
    *,
    client_id: uuid.UUID | None = None,
    program_id: uuid.UUID | None = None,
    status: EnrolmentStatus | None = None,
    updated_since: datetime | None = None,
) -> Select[Enrolment]:
    stmt = visible_enrolments(principal)
    for column, value in (
        (Enrolment.client_id, client_id),
        (Enrolment.program_id, program_id),
        (Enrolment.status, status),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    return changed_since(stmt, Enrolment.updated_at, updated_since)


async def steps_of(
    session: AsyncSession, enrolment_ids: list[uuid.UUID]
) -> dict[uuid.UUID, dict[int, EnrolmentStep]]:
    """The step rows (released, completed or skipped steps) of these enrolments, by position."""
    found: dict[uuid.UUID, dict[int, EnrolmentStep]] = {e: {} for e in enrolment_ids}
    if enrolment_ids:
        rows = await session.execute(
            select(EnrolmentStep)
            .where(EnrolmentStep.enrolment_id.in_(enrolment_ids))
            .execution_options(populate_existing=True)
        )
        for step in rows.scalars():
            found[step.enrolment_id][step.position] = step
    return found
