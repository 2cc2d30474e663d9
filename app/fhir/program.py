"""Programs as FHIR R4 PlanDefinitions and enrolments as the CarePlans that instantiate them.

A PlanDefinition is one program version: `url` names the program (stable across versions),
`version` the version, and an enrolment's CarePlan points at it with the versioned canonical
`url|version` (`instantiatesCanonical`). Each step is an action whose definition is the
pinned Questionnaire version of its template; the release rules become the action's timing
(a day of the plan, a date) or a related action (after the previous step, with an offset).
"""

from typing import Any

from app.fhir.common import UCUM, day, fhir_id, instant, questionnaire_canonical, reference
from app.fhir.validation import validate_resource
from app.programs.schemas import EnrolmentRead, ProgramStepRead, ProgramVersionRead

PLAN_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/plan-definition-type"
ENROLMENT_STATUS = {
    "active": "active",
    "paused": "on-hold",
    "completed": "completed",
    "ended": "revoked",
}
STEP_STATUS = {
    "locked": "not-started",
    "released": "in-progress",
    "completed": "completed",
    "skipped": "cancelled",
}


def plan_url(base_url: str, program_id: object) -> str:
    return f"{base_url.rstrip('/')}/PlanDefinition/{fhir_id(program_id)}"


def plan_canonical(base_url: str, program_id: object, version: int) -> str:
    return f"{plan_url(base_url, program_id)}|{int(version)}"


def _days(value: int) -> dict[str, Any]:
    return {"value": value, "unit": "days", "system": UCUM, "code": "d"}


def _action(step: ProgramStepRead, base_url: str) -> dict[str, Any]:
    action: dict[str, Any] = {
        "id": f"step-{step.position}",
        "title": step.title,
        "definitionCanonical": questionnaire_canonical(
            base_url, step.template_id, step.template_version
        ),
        "requiredBehavior": "could" if step.optional else "must",
    }
    if step.instructions.strip():
        action["description"] = step.instructions
    rule = step.release
    if rule.type == "on_enrolment_day":
        action["timingDuration"] = _days(rule.day - 1)  # after the plan's start
    elif rule.type == "on_date":
        action["timingDateTime"] = day(rule.date)
    elif rule.type in ("after_previous_completed", "days_after_previous_completed"):
        related: dict[str, Any] = {
            "actionId": f"step-{step.position - 1}",
            "relationship": "after-end",
        }
        if rule.type == "days_after_previous_completed":
            related["offsetDuration"] = _days(rule.days)
        action["relatedAction"] = [related]
    return action


def plan_definition(program: ProgramVersionRead, slug: str, base_url: str) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "PlanDefinition",
        "id": fhir_id(f"{program.program_id}-v{program.version}"),
        "url": plan_url(base_url, program.program_id),
        "identifier": [{"system": "urn:homework-api:program", "value": slug}],
        "version": str(program.version),
        "title": program.title,
        "type": {"coding": [{"system": PLAN_TYPE_SYSTEM, "code": "clinical-protocol"}]},
        "status": "active",
        "date": instant(program.created_at),
        "action": [_action(step, base_url) for step in program.steps],
    }
    if program.description.strip():
        resource["description"] = program.description
    return validate_resource(resource)


def enrolment_care_plan(enrolment: EnrolmentRead, base_url: str) -> dict[str, Any]:
    period: dict[str, Any] = {"start": day(enrolment.started_on)}
    ended = enrolment.completed_at or enrolment.ended_at
    if ended is not None:
        period["end"] = instant(ended)
    activities = []
    for step in enrolment.steps:
        detail: dict[str, Any] = {
            "kind": "Task",
            "instantiatesCanonical": [
                questionnaire_canonical(base_url, step.template_id, step.template_version)
            ],
            "status": STEP_STATUS[step.state.value],
            "description": step.title,
        }
        if step.released_at is not None:
            detail["scheduledPeriod"] = {"start": instant(step.released_at)}
        elif step.releases_at is not None:
            detail["scheduledPeriod"] = {"start": instant(step.releases_at)}
        activities.append({"detail": detail})
    resource = {
        "resourceType": "CarePlan",
        "id": fhir_id(enrolment.id),
        "instantiatesCanonical": [
            plan_canonical(base_url, enrolment.program_id, enrolment.program_version)
        ],
        "status": ENROLMENT_STATUS[enrolment.status.value],
        "intent": "plan",
        "title": enrolment.title,
        "subject": reference("Patient", enrolment.client_id),
        "period": period,
        "created": instant(enrolment.created_at),
        "activity": activities,
    }
    return validate_resource(resource)
