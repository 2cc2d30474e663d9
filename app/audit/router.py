"""Reading the audit trail: who touched which client's data, when, from where, and how."""

import uuid
from typing import Annotated

from fastapi import Depends, Query

from app.audit import service
from app.audit.schemas import Action, AuditEventRead
from app.auth.policy import ADMINS, AUDIT_READ, Policy
from app.auth.principal import Principal
from app.core.db import SessionDep
from app.core.pagination import ListParamsDep, Page
from app.core.routing import DomainRouter, problem_responses
from app.core.types import Instant

router = DomainRouter(tags=["audit"], responses=problem_responses(401, 403))
AuditReader = Annotated[
    Principal, Depends(Policy(ADMINS, AUDIT_READ, api_clients=True, audit="audit_event"))
]


@router.get(
    "/audit-events",
    operation_id="listAuditEvents",
    summary="The clinic's audit trail, newest first",
)
async def list_audit_events(
    session: SessionDep,
    principal: AuditReader,
    params: ListParamsDep,
    client_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
    action: Action | None = None,
    occurred_from: Annotated[Instant | None, Query(alias="from")] = None,
    occurred_to: Annotated[Instant | None, Query(alias="to")] = None,
) -> Page[AuditEventRead]:
    """`updated_since` is accepted like on every list; audit rows never change, so it filters
    by when they were written."""
    return await service.list_audit_events(
        session,
        principal,
        params,
        client_id=client_id,
        actor_id=actor_id,
        action=action,
        occurred_from=occurred_from,
        occurred_to=occurred_to,
    )
