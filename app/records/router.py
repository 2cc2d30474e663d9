"""A client's whole record: the export they are entitled to, and erasure on request."""

import uuid
from typing import Annotated

from fastapi import Depends

from app.auth.policy import ADMINS, EVERYONE, READ, WRITE, Policy
from app.auth.principal import Principal
from app.core.db import SessionDep
from app.core.routing import DomainRouter, problem_responses
from app.records import service
from app.records.schemas import ClientExport

router = DomainRouter(tags=["records"], responses=problem_responses(401, 403))
Exporter = Annotated[Principal, Depends(Policy(EVERYONE, READ, audit="client_export"))]
Eraser = Annotated[Principal, Depends(Policy(ADMINS, WRITE, audit="client"))]


@router.get(
    "/clients/{client_id}/export",
    operation_id="exportClient",
    summary="Everything held about a client, as one JSON document",
    responses=problem_responses(404),
)
async def export_client(
    client_id: uuid.UUID, session: SessionDep, principal: Exporter
) -> ClientExport:
    """The client for themself, a therapist on the care team, or an admin. Template versions
    are included so that answers can be read; metrics cover the last 90 days. Audited as
    `export`."""
    return await service.export_client(session, principal, client_id)


@router.delete(
    "/clients/{client_id}",
    operation_id="eraseClient",
    status_code=204,
    summary="Erase a client's personal data (admin); audit rows stay",
    responses=problem_responses(404),
)
async def erase_client(client_id: uuid.UUID, session: SessionDep, principal: Eraser) -> None:
    """In one transaction: the client's account and everything that hangs off it (profile,
    external ids, care team, invitations, refresh tokens, assignments, completions, comments,
    goals, achievements) go by cascade; their events in the change feed (which carry copies of
    their data), the deliveries of those events and the stored Idempotency-Key answers of
    requests by or about the client are deleted;
    then one `client.deleted` tombstone event is written. Afterwards every route answers 404
    for this client. Audit rows hold no personal data and stay."""
    await service.erase_client(session, principal, client_id)
