"""FHIR R4 read endpoints: a client's whole record as a Bundle, and template Questionnaires."""

import uuid
from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse

from app.auth.policy import FHIR_READ, STAFF, Policy
from app.auth.principal import Principal
from app.clinics.repository import get_visible_client
from app.core.db import SessionDep
from app.core.routing import ProblemRoute, problem_responses
from app.core.time import utcnow
from app.core.types import Instant
from app.fhir.inputs import EverythingInput, TemplateVersionInput
from app.fhir.mapping import everything_bundle, questionnaire
from app.records.service import load_record, weekly_adherence
from app.templates.models import TemplateVersion
from app.templates.repository import definition_of, get_version, get_visible_template

router = APIRouter(route_class=ProblemRoute, tags=["fhir"], responses=problem_responses(401, 403))
FhirReader = Annotated[
    Principal, Depends(Policy(STAFF, FHIR_READ, api_clients=True, audit="fhir_bundle"))
]
# A questionnaire is a template of the clinic's library, not client data.
QuestionnaireReader = Annotated[Principal, Depends(Policy(STAFF, FHIR_READ, api_clients=True))]
FHIR_JSON = "application/fhir+json"
_FHIR_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {FHIR_JSON: {"schema": {"type": "object"}}},
        "description": "A FHIR R4 resource (validated against the R4B models).",
    },
}


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/v1/fhir"


def _fhir(document: dict[str, Any]) -> JSONResponse:
    return JSONResponse(document, media_type=FHIR_JSON)


@router.get(
    "/fhir/Patient/{client_id}/$everything",
    operation_id="getPatientEverything",
    summary="A client's record as a FHIR R4 Bundle (collection)",
    response_class=JSONResponse,
    responses={**_FHIR_RESPONSE, **problem_responses(404)},
)
async def patient_everything(
    request: Request,
    client_id: uuid.UUID,
    session: SessionDep,
    principal: FhirReader,
    since: Annotated[Instant | None, Query(alias="_since")] = None,
) -> JSONResponse:
    """Patient, Practitioners, Organization, one CarePlan, Questionnaires per template version
    used, QuestionnaireResponses, Goals, and Observations for measure scores (LOINC) and
    weekly adherence. `_since` keeps only resources changed since that instant."""
    client = await get_visible_client(session, principal, client_id)
    now = utcnow()
    record = await load_record(session, client, now)
    # The JSON dumps of the record's response models: the shapes the mapping's inputs describe.
    data = {
        "clinic": {"id": str(record.clinic.id), "name": record.clinic.name},
        "client": record.client.model_dump(mode="json"),
        "therapists": [
            {"id": str(t.id), "display_name": t.display_name, "email": t.email}
            for t in record.therapists
        ],
        "assignments": [a.model_dump(mode="json") for a in record.assignments],
        "template_versions": record.template_versions,
        "completions": [c.model_dump(mode="json") for c in record.completions],
        "goals": [g.model_dump(mode="json") for g in record.goals],
        "adherence": await weekly_adherence(session, client, now),
        "base_url": _base_url(request),
        "since": since,
    }
    return _fhir(everything_bundle(cast(EverythingInput, data), now=now))


@router.get(
    "/fhir/Questionnaire/{template_id}",
    operation_id="getQuestionnaire",
    summary="A template version as a FHIR R4 Questionnaire",
    response_class=JSONResponse,
    responses={**_FHIR_RESPONSE, **problem_responses(404)},
)
async def get_questionnaire(
    request: Request,
    template_id: Annotated[uuid.UUID, Path()],
    session: SessionDep,
    principal: QuestionnaireReader,
    version: Annotated[
        int | None, Query(ge=1, le=1_000_000, description="Latest when absent.")
    ] = None,
) -> JSONResponse:
    template = await get_visible_template(session, principal, template_id)
    found: TemplateVersion = await get_version(session, template, version or template.version)
    document = {
        "template_id": str(template.id),
        "version": found.number,
        "slug": template.slug,
        "created_at": found.created_at.isoformat(),
        **definition_of(found).model_dump(mode="json"),
    }
    return _fhir(questionnaire(cast(TemplateVersionInput, document), _base_url(request)))
