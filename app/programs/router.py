"""Programs (sequenced homework) and enrolments in them."""

import uuid
from typing import Annotated

from fastapi import Depends, Path, Response

from app.auth.policy import EVERYONE, READ, STAFF, WRITE, CatalogueAuthor, CatalogueReader, Policy
from app.auth.principal import Principal
from app.core.db import SessionDep
from app.core.etag import IfMatch, set_etag
from app.core.pagination import ListParamsDep, Page
from app.core.routing import DomainRouter, problem_responses
from app.programs import service
from app.programs.models import EnrolmentStatus
from app.programs.repository import get_program_version, get_visible_program
from app.programs.schemas import (
    EnrolmentCreate,
    EnrolmentRead,
    EnrolmentUpdate,
    ProgramCreate,
    ProgramRead,
    ProgramSummary,
    ProgramUpdate,
    ProgramVersionRead,
)
from app.programs.views import program_read, version_read

router = DomainRouter(tags=["programs"], responses=problem_responses(401, 403))
# Programs are part of the catalogue, as templates are (a client sees the programs they are
# enrolled in); enrolments are client data.
EnrolmentReader = Annotated[
    Principal, Depends(Policy(EVERYONE, READ, api_clients=True, audit="enrolment"))
]
EnrolmentWriter = Annotated[
    Principal, Depends(Policy(STAFF, WRITE, api_clients=True, audit="enrolment"))
]


@router.get("/programs", operation_id="listPrograms", summary="Built-in and the clinic's programs")
async def list_programs(
    session: SessionDep, principal: CatalogueReader, params: ListParamsDep
) -> Page[ProgramSummary]:
    return await service.list_programs(session, principal, params)


@router.post(
    "/programs",
    operation_id="createProgram",
    status_code=201,
    summary="Create a clinic program, from scratch or `based_on` another",
    responses=problem_responses(404, 409),
)
async def create_program(
    body: ProgramCreate, session: SessionDep, principal: CatalogueAuthor, response: Response
) -> ProgramRead:
    program, version = await service.create_program(session, principal, body)
    response.headers["Location"] = f"/v1/programs/{program.id}"
    set_etag(response, program.version)
    return program_read(program, version)


@router.get(
    "/programs/{program_id}",
    operation_id="getProgram",
    summary="A program with its latest version's steps",
    responses=problem_responses(404),
)
async def get_program(
    program_id: uuid.UUID, session: SessionDep, principal: CatalogueReader, response: Response
) -> ProgramRead:
    program = await get_visible_program(session, principal, program_id)
    set_etag(response, program.version)
    return program_read(program, await get_program_version(session, program, program.version))


@router.patch(
    "/programs/{program_id}",
    operation_id="updateProgram",
    summary="Publish a new version of a clinic program (send what changes)",
    responses=problem_responses(404, 409, 412),
)
async def update_program(
    program_id: uuid.UUID,
    body: ProgramUpdate,
    session: SessionDep,
    principal: CatalogueAuthor,
    response: Response,
    if_match: IfMatch = None,
) -> ProgramRead:
    """Enrolments keep the version they were enrolled in. Built-in programs are read-only
    (403): clone one with `based_on`."""
    program, version = await service.update_program(session, principal, program_id, body, if_match)
    set_etag(response, program.version)
    return program_read(program, version)


@router.get(
    "/programs/{program_id}/versions/{version}",
    operation_id="getProgramVersion",
    summary="One published version of a program (immutable)",
    responses=problem_responses(404),
)
async def get_program_version_route(
    program_id: uuid.UUID,
    version: Annotated[int, Path(ge=1, le=1_000_000)],
    session: SessionDep,
    principal: CatalogueReader,
    response: Response,
) -> ProgramVersionRead:
    program = await get_visible_program(session, principal, program_id)
    found = await get_program_version(session, program, version)
    set_etag(response, found.number)
    return version_read(program, found)


@router.post(
    "/programs/{program_id}/enrolments",
    operation_id="createEnrolment",
    status_code=201,
    summary="Enrol a client: the steps due on day 1 become assignments now",
    responses=problem_responses(404),
)
async def create_enrolment(
    program_id: uuid.UUID,
    body: EnrolmentCreate,
    session: SessionDep,
    principal: EnrolmentWriter,
    response: Response,
) -> EnrolmentRead:
    """The enrolment keeps the program's current version. Later steps are released by the
    completion that meets their rule, or at local midnight of their day by the worker."""
    read = await service.enrol(session, principal, program_id, body)
    response.headers["Location"] = f"/v1/enrolments/{read.id}"
    set_etag(response, read.version)
    return read


@router.get("/enrolments", operation_id="listEnrolments", summary="Enrolments the caller can see")
async def list_enrolments(
    session: SessionDep,
    principal: EnrolmentReader,
    params: ListParamsDep,
    client_id: uuid.UUID | None = None,
    program_id: uuid.UUID | None = None,
    status: EnrolmentStatus | None = None,
) -> Page[EnrolmentRead]:
    return await service.list_enrolments(
        session, principal, params, client_id=client_id, program_id=program_id, status=status
    )


@router.get(
    "/enrolments/{enrolment_id}",
    operation_id="getEnrolment",
    summary="An enrolment: each step's state and what releases the next",
    responses=problem_responses(404),
)
async def get_enrolment(
    enrolment_id: uuid.UUID, session: SessionDep, principal: EnrolmentReader, response: Response
) -> EnrolmentRead:
    read = await service.get_enrolment(session, principal, enrolment_id)
    set_etag(response, read.version)
    return read


@router.patch(
    "/enrolments/{enrolment_id}",
    operation_id="updateEnrolment",
    summary="Pause, resume or end an enrolment (its assignments follow)",
    responses=problem_responses(404, 409, 412),
)
async def update_enrolment(
    enrolment_id: uuid.UUID,
    body: EnrolmentUpdate,
    session: SessionDep,
    principal: EnrolmentWriter,
    response: Response,
    if_match: IfMatch = None,
) -> EnrolmentRead:
    read = await service.update_enrolment(session, principal, enrolment_id, body, if_match)
    set_etag(response, read.version)
    return read


@router.post(
    "/enrolments/{enrolment_id}/steps/{position}/skip",
    operation_id="skipEnrolmentStep",
    summary="Skip an optional step (the next one's rule counts it as done)",
    responses=problem_responses(404, 409),
)
async def skip_enrolment_step(
    enrolment_id: uuid.UUID,
    position: Annotated[int, Path(ge=1, le=1000)],
    session: SessionDep,
    principal: EnrolmentWriter,
) -> EnrolmentRead:
    return await service.skip_step(session, principal, enrolment_id, position)
