"""API clients (integrations such as an EHR): registered with a secret shown once, and revoked."""

import uuid
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import ApiClient
from app.auth.policy import require_scopes
from app.auth.principal import Principal
from app.auth.schemas import ApiClientCreate, ApiClientCreated, ApiClientRead
from app.core.errors import NotFound
from app.core.pagination import ListParams, Page, SortKey, changed_since, paginate_rows
from app.core.passwords import hash_secret, new_secret
from app.core.time import utcnow


class ApiClientNotFound(NotFound):
    slug = "api-client-not-found"


def clinic_api_clients(
    principal: Principal, *, updated_since: datetime | None = None
) -> Select[ApiClient]:
    """The API clients of the principal's clinic (changed since `updated_since`, when given)."""
    stmt = select(ApiClient).where(ApiClient.clinic_id == principal.clinic_id)
    stmt = changed_since(stmt, ApiClient.updated_at, updated_since)
    return stmt


async def get_api_client(
    session: AsyncSession, principal: Principal, api_client_id: uuid.UUID
) -> ApiClient:
    stmt = clinic_api_clients(principal).where(ApiClient.id == api_client_id)
    api_client = (await session.execute(stmt)).scalar_one_or_none()
    if api_client is None:
        raise ApiClientNotFound("No such API client.")
    return api_client


async def list_api_clients(
    session: AsyncSession, principal: Principal, params: ListParams
) -> Page[ApiClientRead]:
    stmt = clinic_api_clients(principal, updated_since=params.updated_since)
    rows, cursor = await paginate_rows(session, stmt, params, [SortKey(ApiClient.id)])
    return Page(items=[ApiClientRead.model_validate(c) for c in rows], next_cursor=cursor)


async def register_api_client(
    session: AsyncSession, principal: Principal, body: ApiClientCreate
) -> ApiClientCreated:
    """A new integration with a fresh secret, answered once and stored only hashed. It never
    gets a scope its registering admin's token does not hold."""
    scopes = {s.value for s in body.scopes}
    require_scopes(principal, scopes, ["body", "scopes"])
    secret = new_secret(32)
    api_client = ApiClient(
        clinic_id=principal.clinic_id,
        name=body.name,
        scopes=sorted(scopes),
        secret_hash=hash_secret(secret),
        created_by_id=principal.id,
    )
    session.add(api_client)
    await session.flush()
    return ApiClientCreated(
        **ApiClientRead.model_validate(api_client).model_dump(), client_secret=secret
    )


async def revoke_api_client(session: AsyncSession, api_client: ApiClient) -> None:
    """Its tokens stop working (the principal check reads `revoked_at`: at once in this
    process, within PRINCIPAL_CACHE_SECONDS in others); again is a no-op."""
    if api_client.revoked_at is None:
        api_client.revoked_at = utcnow()
        await session.flush()
