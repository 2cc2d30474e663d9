"""Clients of a clinic: caseload lists, profiles, care teams and invitation codes."""

import uuid
from typing import Annotated

from fastapi import Depends, Query, Response

from app.auth.models import UserStatus
from app.auth.policy import EVERYONE, READ, STAFF, WRITE, Policy
from app.auth.principal import Principal
from app.auth.schemas import InvitationRead
from app.auth.service import issue_invitation
from app.clinics import service
from app.clinics.repository import get_visible_client
from app.clinics.schemas import (
    CareTeamRead,
    CareTeamUpdate,
    ClientCreate,
    ClientCreated,
    ClientRead,
    ClientUpdate,
)
from app.core.db import SessionDep
from app.core.errors import Unprocessable, field_error
from app.core.etag import IfMatch, check_if_match, set_etag
from app.core.pagination import ListParamsDep, Page
from app.core.routing import DomainRouter, problem_responses

router = DomainRouter(tags=["clients"], responses=problem_responses(401, 403))
ClientReader = Annotated[
    Principal, Depends(Policy(EVERYONE, READ, api_clients=True, audit="client"))
]
ClientWriter = Annotated[Principal, Depends(Policy(STAFF, WRITE, api_clients=True, audit="client"))]
CareTeamReader = Annotated[
    Principal, Depends(Policy(EVERYONE, READ, api_clients=True, audit="care_team"))
]
CareTeamEditor = Annotated[Principal, Depends(Policy(STAFF, WRITE, audit="care_team"))]
InvitationWriter = Annotated[
    Principal, Depends(Policy(STAFF, WRITE, api_clients=True, audit="invitation"))
]


def _external_id_filter(value: str) -> tuple[str, str]:
    system, sep, ident = value.rpartition("|")
    if not sep or not system or not ident:
        raise Unprocessable(
            "external_id must look like system|value.",
            errors=[field_error(["query", "external_id"], "Expected system|value", "value_error")],
        )
    return system, ident


@router.get(
    "/clients", operation_id="listClients", summary="List the clients visible to the caller"
)
async def list_clients(
    session: SessionDep,
    principal: ClientReader,
    params: ListParamsDep,
    external_id: Annotated[
        str | None,
        Query(
            max_length=512,
            # What _external_id_filter needs, so that the contract says it too.
            pattern=r"^[\s\S]+\|[^|]+$",
            description="`system|value`, as an EHR knows its patient.",
        ),
    ] = None,
    status: UserStatus | None = None,
    q: Annotated[
        str | None, Query(min_length=1, max_length=100, description="Part of the name.")
    ] = None,
) -> Page[ClientRead]:
    return await service.list_clients(
        session,
        principal,
        params,
        external_id=_external_id_filter(external_id) if external_id is not None else None,
        status=status,
        name_part=q,
    )


@router.post(
    "/clients",
    operation_id="createClient",
    status_code=201,
    summary="Create a client; a therapist's new client joins their care team",
    responses=problem_responses(409),
)
async def create_client(
    body: ClientCreate, session: SessionDep, principal: ClientWriter, response: Response
) -> ClientCreated:
    created = await service.create_client(session, principal, body)
    response.headers["Location"] = f"/v1/clients/{created.id}"
    return created


@router.get(
    "/clients/{client_id}",
    operation_id="getClient",
    summary="One client",
    responses=problem_responses(404),
)
async def get_client(
    client_id: uuid.UUID, session: SessionDep, principal: ClientReader, response: Response
) -> ClientRead:
    client = await get_visible_client(session, principal, client_id)
    set_etag(response, client.version)
    return (await service.client_reads(session, [client]))[0]


@router.patch(
    "/clients/{client_id}",
    operation_id="updateClient",
    summary="Change a client's profile, external ids or status",
    responses=problem_responses(404, 409, 412),
)
async def update_client(
    client_id: uuid.UUID,
    body: ClientUpdate,
    session: SessionDep,
    principal: ClientWriter,
    response: Response,
    if_match: IfMatch = None,
) -> ClientRead:
    client = await get_visible_client(session, principal, client_id)
    check_if_match(if_match, client.version)
    read = await service.update_client(session, client, body)
    set_etag(response, read.version)
    return read


@router.get(
    "/clients/{client_id}/care-team",
    operation_id="getCareTeam",
    summary="The therapists who work with this client",
    responses=problem_responses(404),
)
async def get_care_team(
    client_id: uuid.UUID, session: SessionDep, principal: CareTeamReader
) -> CareTeamRead:
    client = await get_visible_client(session, principal, client_id)
    return await service.care_team_read(session, client)


@router.put(
    "/clients/{client_id}/care-team",
    operation_id="replaceCareTeam",
    summary="Set the care team (admin); a therapist on it may add colleagues",
    responses=problem_responses(404),
)
async def replace_care_team(
    client_id: uuid.UUID, body: CareTeamUpdate, session: SessionDep, principal: CareTeamEditor
) -> CareTeamRead:
    client = await get_visible_client(session, principal, client_id)
    return await service.replace_care_team(session, principal, client, body.therapist_ids)


@router.post(
    "/clients/{client_id}/invitations",
    operation_id="createClientInvitation",
    status_code=201,
    summary="Issue a new one-time invitation code (earlier codes stop working)",
    responses=problem_responses(404, 409),
)
async def reissue_invitation(
    client_id: uuid.UUID, session: SessionDep, principal: InvitationWriter
) -> InvitationRead:
    client = await get_visible_client(session, principal, client_id)
    code, expires_at = await issue_invitation(
        session, client, None if principal.is_api_client else principal.id
    )
    return InvitationRead(code=code, expires_at=expires_at)
