"""FHIR R4 read endpoints: a client's whole record as a Bundle, and template Questionnaires."""

import uuid
from datetime import datetime
from typing import Annotated, Any, cast

from fastapi import Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import User
from app.auth.policy import FHIR_READ, STAFF, Policy
from app.auth.principal import Principal
from app.clinics.repository import get_visible_client
from app.core import audit
from app.core.db import SessionDep
from app.core.errors import Unprocessable, field_error
from app.core.routing import DomainRouter, problem_responses
from app.core.time import utcnow
from app.core.types import Instant
from app.fhir.common import full_url
from app.fhir.document import document_reference
from app.fhir.inputs import EverythingInput, TemplateVersionInput
from app.fhir.mapping import everything_bundle, questionnaire
from app.fhir.program import enrolment_care_plan, plan_definition
from app.fhir.validation import validate_resource
from app.programs.repository import get_program_version, get_visible_program
from app.programs.service import get_enrolment
from app.programs.views import version_read as program_version_read
from app.records.service import load_record, weekly_adherence
from app.reports.render import pdf_of
from app.reports.service import latest_report, report_id, report_title
from app.templates.models import TemplateVersion
from app.templates.repository import definition_of, get_version, get_visible_template

router = DomainRouter(tags=["fhir"], responses=problem_responses(401, 403))
FhirReader = Annotated[
    Principal, Depends(Policy(STAFF, FHIR_READ, api_clients=True, audit="fhir_bundle"))
]
# The report's PDF is an export of the client's data (as the report itself).
DocumentReader = Annotated[
    Principal, Depends(Policy(STAFF, FHIR_READ, api_clients=True, audit="report"))
]
# An enrolment is the client's data.
EnrolmentFhirReader = Annotated[
    Principal, Depends(Policy(STAFF, FHIR_READ, api_clients=True, audit="enrolment"))
]
# A questionnaire (a plan definition) is a template (a program) of the clinic's library, not
# client data.
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


async def _report_document(session: AsyncSession, client: User, now: datetime) -> dict[str, Any]:
    """The latest progress report (the default window, ending now) as a DocumentReference with
    its PDF. Made on the fly like the report itself, so "latest" is always today's."""
    report = await latest_report(session, client, now)
    return document_reference(
        document_id=str(report_id(client.id, report.from_date, report.to_date, report.audience)),
        patient_id=str(client.id),
        clinic_id=str(client.clinic_id),
        pdf=await pdf_of(report),
        generated_at=report.generated_at,
        period=(report.from_date, report.to_date),
        title=report_title(report),
    )


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
    used, QuestionnaireResponses, Goals, Observations for measure scores (LOINC) and weekly
    adherence, and a DocumentReference holding the latest progress report as a PDF (LOINC
    11506-3). `_since` keeps only resources changed since that instant."""
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
        "documents": [await _report_document(session, client, now)],
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


@router.get(
    "/fhir/PlanDefinition/{program_id}",
    operation_id="getPlanDefinition",
    summary="A program version as a FHIR R4 PlanDefinition",
    response_class=JSONResponse,
    responses={**_FHIR_RESPONSE, **problem_responses(404)},
)
async def get_plan_definition(
    request: Request,
    program_id: Annotated[uuid.UUID, Path()],
    session: SessionDep,
    principal: QuestionnaireReader,
    version: Annotated[
        int | None, Query(ge=1, le=1_000_000, description="Latest when absent.")
    ] = None,
) -> JSONResponse:
    program = await get_visible_program(session, principal, program_id)
    found = await get_program_version(session, program, version or program.version)
    return _fhir(
        plan_definition(program_version_read(program, found), program.slug, _base_url(request))
    )


@router.get(
    "/fhir/CarePlan/{enrolment_id}",
    operation_id="getEnrolmentCarePlan",
    summary="An enrolment as a FHIR R4 CarePlan instantiating its program's PlanDefinition",
    response_class=JSONResponse,
    responses={**_FHIR_RESPONSE, **problem_responses(404)},
)
async def get_enrolment_care_plan(
    request: Request,
    enrolment_id: Annotated[uuid.UUID, Path()],
    session: SessionDep,
    principal: EnrolmentFhirReader,
) -> JSONResponse:
    """Only enrolments have CarePlans here; a client's whole homework plan is in
    `Patient/{id}/$everything`."""
    enrolment = await get_enrolment(session, principal, enrolment_id)
    return _fhir(enrolment_care_plan(enrolment, _base_url(request)))


PatientParam = Annotated[
    str,
    Query(
        alias="patient",
        max_length=100,
        description="The client: `Patient/{id}` or the id alone.",
        examples=["Patient/0190c5d2-5f4e-7c3a-9a53-0c6bd1c2e0f1"],
    ),
]


@router.get(
    "/fhir/DocumentReference",
    operation_id="searchDocumentReferences",
    summary="A client's documents (the latest progress report, as a PDF) as a FHIR searchset",
    response_class=JSONResponse,
    responses={**_FHIR_RESPONSE, **problem_responses(404)},
)
async def search_document_references(
    request: Request, session: SessionDep, principal: DocumentReader, patient: PatientParam
) -> JSONResponse:
    """The latest progress report: made on the fly over the default window (the twelve weeks
    up to the client's today), never stored; audited as an `export` of the client's data.
    A client the caller may not see is 404, as everywhere."""
    raw = patient.removeprefix("Patient/")
    try:
        client_id = uuid.UUID(raw)
    except ValueError:
        raise Unprocessable(
            "`patient` is `Patient/{id}` or a client id.",
            errors=[field_error(["query", "patient"], "Not a client id", "uuid_parsing")],
        ) from None
    client = await get_visible_client(session, principal, client_id)
    audit.note(action="export")
    now = utcnow()
    resource = validate_resource(await _report_document(session, client, now))
    base_url = _base_url(request)
    return _fhir(
        {
            "resourceType": "Bundle",
            "type": "searchset",
            "timestamp": now.isoformat(),
            "total": 1,
            "link": [{"relation": "self", "url": str(request.url)}],
            "entry": [
                {
                    "fullUrl": full_url(base_url, resource),
                    "resource": resource,
                    "search": {"mode": "match"},
                }
            ],
        }
    )
