"""API clients (integrations such as an EHR), registered and revoked by the clinic's admins."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from sqlalchemy import select

from app.auth.models import ApiClient
from app.auth.policy import ADMINS, READ, WRITE, Policy, require_scopes
from app.auth.principal import Principal
from app.auth.schemas import ApiClientCreate, ApiClientCreated, ApiClientRead
from app.core.db import SessionDep
from app.core.errors import NotFound
from app.core.etag import IfMatch, check_if_match
from app.core.pagination import ListParamsDep, Page, SortKey, paginate_rows
from app.core.passwords import hash_secret, new_secret
from app.core.routing import ProblemRoute, problem_responses
from app.core.time import utcnow

router = APIRouter(
    route_class=ProblemRoute, responses=problem_responses(401, 403), tags=["api-clients"]
)
# Integrations are managed by the clinic's admins themselves, never by another integration.
ApiClientReader = Annotated[Principal, Depends(Policy(ADMINS, READ))]
ApiClientAdmin = Annotated[Principal, Depends(Policy(ADMINS, WRITE))]


class ApiClientNotFound(NotFound):
    slug = "api-client-not-found"


@router.get(
    "/api-clients",
    operation_id="listApiClients",
    summary="List the clinic's API clients",
)
async def list_api_clients(
    session: SessionDep, principal: ApiClientReader, params: ListParamsDep
) -> Page[ApiClientRead]:
    stmt = select(ApiClient).where(ApiClient.clinic_id == principal.clinic_id)
    if params.updated_since is not None:
        stmt = stmt.where(ApiClient.updated_at >= params.updated_since)
    rows, cursor = await paginate_rows(session, stmt, params, [SortKey(ApiClient.id)])
    return Page(items=[ApiClientRead.model_validate(c) for c in rows], next_cursor=cursor)


@router.post(
    "/api-clients",
    operation_id="createApiClient",
    status_code=201,
    summary="Register an integration; its secret is shown only in this answer",
)
async def create_api_client(
    body: ApiClientCreate, session: SessionDep, principal: ApiClientAdmin, response: Response
) -> ApiClientCreated:
    require_scopes(principal, {s.value for s in body.scopes}, ["body", "scopes"])
    secret = new_secret(32)
    api_client = ApiClient(
        clinic_id=principal.clinic_id,
        name=body.name,
        scopes=sorted({s.value for s in body.scopes}),
        secret_hash=hash_secret(secret),
        created_by_id=principal.id,
    )
    session.add(api_client)
    await session.flush()
    response.headers["Location"] = f"/v1/api-clients/{api_client.id}"
    return ApiClientCreated(
        **ApiClientRead.model_validate(api_client).model_dump(), client_secret=secret
    )


@router.delete(
    "/api-clients/{api_client_id}",
    operation_id="revokeApiClient",
    status_code=204,
    summary="Revoke an API client; its tokens stop working at once",
    responses=problem_responses(404, 412),
)
async def revoke_api_client(
    api_client_id: uuid.UUID,
    session: SessionDep,
    principal: ApiClientAdmin,
    if_match: IfMatch = None,
) -> None:
    api_client = (
        await session.execute(
            select(ApiClient).where(
                ApiClient.id == api_client_id, ApiClient.clinic_id == principal.clinic_id
            )
        )
    ).scalar_one_or_none()
    if api_client is None:
        raise ApiClientNotFound("No such API client.")
    check_if_match(if_match, api_client.version)
    if api_client.revoked_at is None:
        api_client.revoked_at = utcnow()
        await session.flush()
