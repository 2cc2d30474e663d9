"""API clients (integrations such as an EHR), registered and revoked by the clinic's admins."""

import uuid

from fastapi import Response

from app.auth import api_clients
from app.auth.policy import AdminReader, AdminWriter
from app.auth.schemas import ApiClientCreate, ApiClientCreated, ApiClientRead
from app.core.db import SessionDep
from app.core.etag import IfMatch, check_if_match
from app.core.pagination import ListParamsDep, Page
from app.core.routing import DomainRouter, problem_responses

router = DomainRouter(responses=problem_responses(401, 403), tags=["api-clients"])
# Integrations are managed by the clinic's admins themselves (AdminReader, AdminWriter), never
# by another integration.


@router.get(
    "/api-clients",
    operation_id="listApiClients",
    summary="List the clinic's API clients",
)
async def list_api_clients(
    session: SessionDep, principal: AdminReader, params: ListParamsDep
) -> Page[ApiClientRead]:
    return await api_clients.list_api_clients(session, principal, params)


@router.post(
    "/api-clients",
    operation_id="createApiClient",
    status_code=201,
    summary="Register an integration; its secret is shown only in this answer",
)
async def create_api_client(
    body: ApiClientCreate, session: SessionDep, principal: AdminWriter, response: Response
) -> ApiClientCreated:
    created = await api_clients.register_api_client(session, principal, body)
    response.headers["Location"] = f"/v1/api-clients/{created.id}"
    return created


@router.delete(
    "/api-clients/{api_client_id}",
    operation_id="revokeApiClient",
    status_code=204,
    summary="Revoke an API client; its tokens stop working within 5 seconds",
    responses=problem_responses(404, 412),
)
async def revoke_api_client(
    api_client_id: uuid.UUID,
    session: SessionDep,
    principal: AdminWriter,
    if_match: IfMatch = None,
) -> None:
    """Its access tokens are refused at the next request to the server process that revoked
    it, and within `PRINCIPAL_CACHE_SECONDS` (at most 5 seconds) by every other; it can no
    longer get new ones."""
    api_client = await api_clients.get_api_client(session, principal, api_client_id)
    check_if_match(if_match, api_client.version)
    await api_clients.revoke_api_client(session, api_client)
