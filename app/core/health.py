"""Liveness and readiness probes for load balancers and orchestrators."""

from fastapi import APIRouter, Request
from pydantic import BaseModel
from sqlalchemy import text

from app.core.errors import ServiceUnavailable
from app.core.migrations import current_revisions, head_revisions
from app.core.routing import ProblemRoute

router = APIRouter(tags=["health"], route_class=ProblemRoute)


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
