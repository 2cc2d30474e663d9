"""Mounts every domain router under /v1."""

from fastapi import APIRouter

from app.agenda import router as agenda_router
from app.assignments import router as assignments_router
from app.audit import router as audit_router
from app.auth import api_clients_router
from app.auth import router as auth_router
from app.clinics import router as clinics_router
from app.clinics import staff_router
from app.completions import router as completions_router
from app.core.routing import register_audit_rules
from app.fhir import router as fhir_router
from app.goals import router as goals_router
from app.metrics import router as metrics_router
from app.records import router as records_router
from app.sync import router as sync_router
from app.sync import webhooks_router
from app.templates import router as templates_router

api_router = APIRouter(prefix="/v1")
for module in (
    auth_router,
    staff_router,
    clinics_router,
    api_clients_router,
    templates_router,
    assignments_router,
    completions_router,
    goals_router,
    agenda_router,
    metrics_router,
    sync_router,
    webhooks_router,
    fhir_router,
    records_router,
    audit_router,
):
    api_router.include_router(module.router)

# Routes that touch client data leave an audit row naming this resource type.
register_audit_rules(
    {
        "/v1/clients": "client",
        "/v1/clients/{client_id}/agenda": "agenda",
        "/v1/clients/{client_id}/metrics": "metrics",
        "/v1/clients/{client_id}/achievements": "achievement",
        "/v1/clients/{client_id}/care-team": "care_team",
        "/v1/clients/{client_id}/invitations": "invitation",
        "/v1/clients/{client_id}/export": "client_export",
        "/v1/assignments": "assignment",
        "/v1/assignments/{assignment_id}/completions": "completion",
        "/v1/completions": "completion",
        "/v1/completions/{completion_id}/comments": "comment",
        "/v1/goals": "goal",
        "/v1/me": "user",
        "/v1/caseload": "caseload",
        "/v1/changes": "event",
        "/v1/fhir/Patient": "fhir_bundle",
        "/v1/audit-events": "audit_event",
        "/v1/auth/token": "user",
    }
)

root_router = APIRouter()
root_router.include_router(auth_router.well_known)
