"""A client's whole record: the export they are entitled to, and erasure on request."""

import uuid
from datetime import timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends
from pydantic import BaseModel
from sqlalchemy import delete, or_, select

from app.auth.models import User
from app.auth.policy import ADMINS, EVERYONE, READ, WRITE, Policy
from app.auth.principal import Principal
from app.clinics.repository import get_visible_client
from app.core import audit
from app.core.db import SessionDep
from app.core.idempotency import IdempotencyRecord
from app.core.outbox import Event, record_event
from app.core.routing import ProblemRoute, problem_responses
from app.core.time import utcnow
from app.metrics.schemas import ClientMetrics, Granularity
from app.metrics.service import client_metrics
from app.records.service import load_record
from app.sync.models import WebhookDelivery

router = APIRouter(
    route_class=ProblemRoute, tags=["records"], responses=problem_responses(401, 403)
)
Exporter = Annotated[Principal, Depends(Policy(EVERYONE, READ, audit="client_export"))]
Eraser = Annotated[Principal, Depends(Policy(ADMINS, WRITE, audit="client"))]


class ClientExport(BaseModel):
    exported_at: str
    client: dict[str, Any]
    care_team: list[dict[str, Any]]
    assignments: list[dict[str, Any]]
    template_versions: list[dict[str, Any]]
    completions: list[dict[str, Any]]
    comments: list[dict[str, Any]]
    goals: list[dict[str, Any]]
    achievements: list[dict[str, Any]]
    metrics: ClientMetrics


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
    audit.note(action="export")
    client = await get_visible_client(session, principal, client_id)
    now = utcnow()
    record = await load_record(session, client, now)
    today = now.astimezone(ZoneInfo(client.timezone)).date()
    metrics = await client_metrics(
        session, client, today - timedelta(days=89), today, Granularity.week, now
    )
    return ClientExport(
        exported_at=now.isoformat(),
        client=record.client.model_dump(mode="json"),
        care_team=[
            {"id": str(t.id), "display_name": t.display_name, "email": t.email}
            for t in record.therapists
        ],
        assignments=[a.model_dump(mode="json") for a in record.assignments],
        template_versions=record.template_versions,
        completions=[c.model_dump(mode="json") for c in record.completions],
        comments=[c.model_dump(mode="json") for c in record.comments],
        goals=[g.model_dump(mode="json") for g in record.goals],
        achievements=[a.model_dump(mode="json") for a in record.achievements],
        metrics=metrics,
    )


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
    client = await get_visible_client(session, principal, client_id)
    clinic_id = client.clinic_id
    event_ids = select(Event.id).where(Event.client_id == client.id)
    await session.execute(delete(WebhookDelivery).where(WebhookDelivery.event_id.in_(event_ids)))
    await session.execute(delete(Event).where(Event.client_id == client.id))
    # Stored replays would answer with the erased data: the client's own, and staff's about them.
    await session.execute(
        delete(IdempotencyRecord).where(
            or_(
                IdempotencyRecord.client_id == client.id,
                IdempotencyRecord.principal == f"user:{client.id}",
            )
        )
    )
    await session.execute(delete(User).where(User.id == client.id))
    record_event(
        session,
        "client.deleted",
        resource_type="client",
        resource_id=client_id,
        clinic_id=clinic_id,
        client_id=client_id,
        payload={"id": str(client_id), "deleted": True},
    )
