"""Test helpers: R4B model parsing with readable failures, bundle lookups and FHIR value sets.

fhir.resources checks structure and datatypes but not value-set bindings, so the required
bindings our resources use are written out here from the R4 specification.
"""

from collections.abc import Iterator
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

ID_PATTERN = r"[A-Za-z0-9\-\.]{1,64}"

VALUE_SETS: dict[str, set[str]] = {
    "Bundle.type": {
        "document",
        "message",
        "transaction",
        "transaction-response",
        "batch",
        "batch-response",
        "history",
        "searchset",
        "collection",
    },
    "CarePlan.status": {
        "draft",
        "active",
        "on-hold",
        "revoked",
        "completed",
        "entered-in-error",
        "unknown",
    },
    "CarePlan.intent": {"proposal", "plan", "order", "option"},
    "CarePlan.activity.detail.status": {
        "not-started",
        "scheduled",
        "in-progress",
        "on-hold",
        "completed",
        "cancelled",
        "stopped",
        "unknown",
        "entered-in-error",
    },
    "CarePlan.activity.detail.kind": {
        "Appointment",
        "CommunicationRequest",
        "DeviceRequest",
        "MedicationRequest",
        "NutritionOrder",
        "Task",
        "ServiceRequest",
        "VisionPrescription",
    },
    "Timing.repeat.periodUnit": {"s", "min", "h", "d", "wk", "mo", "a"},
    "Timing.repeat.dayOfWeek": {"mon", "tue", "wed", "thu", "fri", "sat", "sun"},
    "QuestionnaireResponse.status": {
        "in-progress",
        "completed",
        "amended",
        "entered-in-error",
        "stopped",
    },
    "Questionnaire.status": {"draft", "active", "retired", "unknown"},
    "Questionnaire.item.type": {
        "group",
        "display",
        "boolean",
        "decimal",
        "integer",
        "date",
        "dateTime",
        "time",
        "string",
        "text",
        "url",
        "choice",
        "open-choice",
        "attachment",
        "reference",
        "quantity",
    },
    "Goal.lifecycleStatus": {
        "proposed",
        "planned",
        "accepted",
        "active",
        "on-hold",
        "completed",
        "cancelled",
        "entered-in-error",
        "rejected",
    },
    "Goal.achievementStatus": {
        "in-progress",
        "improving",
        "worsening",
        "no-change",
        "achieved",
        "sustaining",
        "not-achieved",
        "no-progress",
        "not-attainable",
    },
    "Observation.status": {
        "registered",
        "preliminary",
        "final",
        "amended",
        "corrected",
        "cancelled",
        "entered-in-error",
        "unknown",
    },
    "Observation.category": {
        "social-history",
        "vital-signs",
        "imaging",
        "laboratory",
        "procedure",
        "survey",
        "exam",
        "therapy",
        "activity",
    },
    "ContactPoint.system": {"phone", "fax", "email", "pager", "url", "sms", "other"},
}


def validated(resource: dict[str, Any]) -> Any:
    """Parse with the R4B model for the resourceType; fail the test listing every error."""
    model = get_fhir_model_class(resource["resourceType"])
    try:
        return model.model_validate(resource)
    except ValidationError as exc:
        problems = "\n".join(f"  {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        pytest.fail(f"{resource['resourceType']}/{resource.get('id')} is invalid:\n{problems}")


def resources(bundle: dict, resource_type: str) -> list[dict[str, Any]]:
    return [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type
    ]


def one(bundle: dict, resource_type: str, resource_id: str) -> dict[str, Any]:
    found = [r for r in resources(bundle, resource_type) if r["id"] == resource_id]
    assert len(found) == 1, f"{resource_type}/{resource_id}: {len(found)} entries"
    return found[0]


def walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object inside `node`, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def _items(items: list[dict]) -> Iterator[dict]:
    for item in items:
        yield item
        yield from _items(item.get("item", []))


def coded_values(bundle: dict) -> Iterator[tuple[str, str]]:
    """(value set name, code) for every bound code in the bundle."""
    yield "Bundle.type", bundle["type"]
    for entry in bundle["entry"]:
        r = entry["resource"]
        kind = r["resourceType"]
        for point in r.get("telecom", []):
            yield "ContactPoint.system", point["system"]
        if kind == "CarePlan":
            yield "CarePlan.status", r["status"]
            yield "CarePlan.intent", r["intent"]
            for activity in r.get("activity", []):
                detail = activity["detail"]
                yield "CarePlan.activity.detail.status", detail["status"]
                yield "CarePlan.activity.detail.kind", detail["kind"]
                repeat = detail.get("scheduledTiming", {}).get("repeat", {})
                if "periodUnit" in repeat:
                    yield "Timing.repeat.periodUnit", repeat["periodUnit"]
                for weekday in repeat.get("dayOfWeek", []):
                    yield "Timing.repeat.dayOfWeek", weekday
        elif kind == "QuestionnaireResponse":
            yield "QuestionnaireResponse.status", r["status"]
        elif kind == "Questionnaire":
            yield "Questionnaire.status", r["status"]
            for item in _items(r.get("item", [])):
                yield "Questionnaire.item.type", item["type"]
        elif kind == "Goal":
            yield "Goal.lifecycleStatus", r["lifecycleStatus"]
            for coding in r.get("achievementStatus", {}).get("coding", []):
                yield "Goal.achievementStatus", coding["code"]
        elif kind == "Observation":
            yield "Observation.status", r["status"]
            for category in r.get("category", []):
                for coding in category["coding"]:
                    yield "Observation.category", coding["code"]


def all_items(items: list[dict]) -> list[dict]:
    return list(_items(items))
