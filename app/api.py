"""Every domain router, mounted under /v1 by `include_api`."""

from fastapi import APIRouter, FastAPI

from app.agenda import router as agenda_router
from app.assignments import router as assignments_router
from app.audit import router as audit_router
from app.auth import api_clients_router
from app.auth import router as auth_router
from app.clinics import router as clinics_router
from app.clinics import staff_router
from app.completions import router as completions_router
from app.fhir import router as fhir_router
from app.goals import router as goals_router
from app.groups import router as groups_router
from app.metrics import router as metrics_router
from app.programs import router as programs_router
from app.records import router as records_router
from app.reports import router as reports_router
from app.support import router as support_router
from app.sync import router as sync_router
from app.sync import webhooks_router
from app.templates import router as templates_router

API_PREFIX = "/v1"
API_ROUTERS = [
    module.router
    for module in (
        auth_router,
        staff_router,
        clinics_router,
        api_clients_router,
        templates_router,
        assignments_router,
        programs_router,
        groups_router,
        completions_router,
        goals_router,
        agenda_router,
        metrics_router,
        support_router,
        reports_router,
        sync_router,
        webhooks_router,
        fhir_router,
        records_router,
        audit_router,
    )
] + [auth_router.oauth]

root_router = APIRouter()
root_router.include_router(auth_router.well_known)


def include_api(app: FastAPI) -> None:
    """Each domain router straight into the app, under /v1. Not through one `/v1` router:
    FastAPI matches an included router's routes once to select it and again to dispatch, so
    every level of nesting walks the route table once more for every request."""
    for router in API_ROUTERS:
        app.include_router(router, prefix=API_PREFIX)
