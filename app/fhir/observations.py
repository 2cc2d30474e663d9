"""Numbers about the client as FHIR Observations: measure totals and homework adherence."""

from typing import Any

from app.fhir.common import (
    LOINC,
    UCUM,
    compact,
    day,
    derived_id,
    fhir_id,
    instant,
    meta,
    reference,
    template_system,
    text_or_none,
)
from app.fhir.inputs import AdherenceInput, CompletionInput, TemplateVersionInput

CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"
# Total scores of the published measures, keyed by the built-in template's slug.
SCORE_LOINC = {
    "phq-9": ("44261-6", "Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]"),
    "gad-7": ("70274-6", "Generalized anxiety disorder 7 item (GAD-7) total score [Reported.PHQ]"),
}


def _category(code: str, display: str) -> list[dict[str, Any]]:
    return [{"coding": [{"system": CATEGORY_SYSTEM, "code": code, "display": display}]}]


def _score_code(template_version: TemplateVersionInput) -> dict[str, Any]:
    title = text_or_none(template_version.get("title")) or "Questionnaire"
    loinc = SCORE_LOINC.get(template_version.get("slug") or "")
    if loinc is None:
        # A clinic's own scored template has no standard code; the text still says what it is.
        return {"text": f"{title} total score"}
    return {
        "coding": [{"system": LOINC, "code": loinc[0], "display": loinc[1]}],
        "text": f"{title} total score",
    }


def score_observation(
    completion: CompletionInput, template_version: TemplateVersionInput, patient_id: str
) -> dict[str, Any] | None:
    """The total of a scored completion; None when there is no total (skipped items)."""
    score = completion.get("score")
    total = score.get("total") if score else None
    if score is None or total is None or isinstance(total, bool):
        return None
    template_id = str(completion["template_id"])
    patient = reference("Patient", patient_id)
    band = text_or_none(score.get("band"))
    band_label = text_or_none(score.get("band_label"))
    interpretation = None
    if band:
        coding = compact(
            {
                "system": template_system(template_id, "score-bands"),
                "code": band,
                "display": band_label,
            }
        )
        interpretation = [compact({"coding": [coding], "text": band_label})]
    # A fired risk rule (PHQ-9 item 9) must reach the EHR as data, not only as an answer
    # somebody has to spot in the response.
    risk_flags = [
        {
            "code": {"text": "Risk flag"},
            "valueCodeableConcept": {
                "coding": [{"system": template_system(template_id, "risk-flags"), "code": flag}],
                "text": flag,
            },
        }
        for flag in score.get("risk_flags") or []
        if text_or_none(flag)
    ]
    return compact(
        {
            "resourceType": "Observation",
            # The response and its score share the completion's id (ids are per type).
            "id": fhir_id(completion["id"]),
            "meta": meta(completion.get("updated_at")),
            "status": "final",
            "category": _category("survey", "Survey"),
            "code": _score_code(template_version),
            "subject": patient,
            "effectiveDateTime": instant(completion["completed_at"]),
            "issued": instant(completion["updated_at"]) if completion.get("updated_at") else None,
            "performer": [patient],
            "valueInteger": int(total),
            "interpretation": interpretation,
            "derivedFrom": [reference("QuestionnaireResponse", completion["id"])],
            "component": risk_flags,
        }
    )


def _count(label: str, value: int) -> dict[str, Any]:
    return {"code": {"text": label}, "valueInteger": int(value)}


def adherence_observation(period: AdherenceInput, patient_id: str) -> dict[str, Any] | None:
    """One period's adherence; None when nothing was due (a rate of 0/0 is not 0%)."""
    rate = period.get("rate")
    if rate is None:
        return None
    start, end = day(period["period_start"]), day(period["period_end"])
    return {
        "resourceType": "Observation",
        "id": derived_id(patient_id, "adherence", start, end),
        "status": "final",
        "category": _category("therapy", "Therapy"),
        "code": {"text": "Homework adherence"},
        "subject": reference("Patient", patient_id),
        "effectivePeriod": {"start": start, "end": end},
        "valueQuantity": {
            "value": round(float(rate) * 100, 2),
            "unit": "%",
            "system": UCUM,
            "code": "%",
        },
        "component": [
            _count("Scheduled occurrences", period["scheduled"]),
            _count("Completed occurrences", period["completed"]),
        ],
    }
