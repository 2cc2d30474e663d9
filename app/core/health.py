"""Liveness and readiness probes for load balancers and orchestrators."""

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from sqlalchemy import text

from app.core.access import Public
from app.core.errors import ServiceUnavailable
from app.core.migrations import current_revisions, head_revisions
from app.core.ratelimit import Unlimited
from app.core.routing import ProblemRoute


class ProbeRoute(Unlimited, ProblemRoute):
    """Never rate limited: behind a proxy all anonymous callers share an address, and one of
    them exhausting its limit must not make the load balancer drop a healthy instance."""


router = APIRouter(tags=["health"], route_class=ProbeRoute, dependencies=[Depends(Public())])


class Health(BaseModel):
    status: str


@router.get("/healthz", operation_id="getHealth", summary="The process is alive")
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    operation_id="getReadiness",
    summary="The database is reachable and its schema is at the latest migration",
)
async def readyz(request: Request) -> Health:
    engine = request.app.state.engine
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
            current = await current_revisions(connection)
    except Exception as exc:
        raise ServiceUnavailable("The database is not reachable.") from exc
    if current != head_revisions():
        raise ServiceUnavailable("The database schema is not at the latest migration.")
    return Health(status="ready")
