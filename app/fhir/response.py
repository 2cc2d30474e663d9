"""A completion as a FHIR QuestionnaireResponse: typed answers keyed by the field's linkId."""

from typing import Any

from app.fhir.common import (
    compact,
    day,
    fhir_id,
    hms,
    instant,
    meta,
    questionnaire_canonical,
    reference,
)
from app.fhir.inputs import CompletionInput, TemplateVersionInput
from app.fhir.questionnaire import option_coding

# A skipped occurrence was deliberately not filled in: "stopped" is R4's status for a response
# that will not be completed (there is no "skipped").
RESPONSE_STATUS = {"done": "completed", "skipped": "stopped"}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _answers(template_id: str, field: dict[str, Any], value: Any) -> list[dict[str, Any]]:
    """The typed answers for one field; empty when the value does not fit (never guessed)."""
    kind = field["type"]
    if kind in ("single_choice", "multi_choice"):
        chosen = value if kind == "multi_choice" and isinstance(value, list) else [value]
        answers = []
        for item in chosen:
            # Exact type match: option 1 must not match an answer `true`.
            option = next(
                (
                    o
                    for o in field.get("options", [])
                    if type(o["value"]) is type(item) and o["value"] == item
                ),
                None,
            )
            if option is None:
                option = {"value": item, "label": None}
            answers.append({"valueCoding": option_coding(template_id, field["key"], option)})
        return answers
    if kind in ("text", "long_text"):
        return [{"valueString": value}] if isinstance(value, str) and value.strip() else []
    if kind == "boolean":
        return [{"valueBoolean": value}] if isinstance(value, bool) else []
    if kind in ("scale", "percent", "duration_minutes"):
        whole = _is_number(value) and float(value).is_integer()
        return [{"valueInteger": int(value)}] if whole else []
    if kind == "number":
        return [{"valueDecimal": value}] if _is_number(value) else []
    if kind == "date":
        return [{"valueDate": day(value)}] if isinstance(value, str) else []
    if kind == "time":
        return [{"valueTime": hms(value)}] if isinstance(value, str) else []
    return []


def _items(
    template_id: str, fields: list[dict[str, Any]], responses: dict[str, Any]
) -> list[dict[str, Any]]:
    # Form order, answered fields only: R4 has no way to say "asked but left empty" other
    # than leaving the item out. Keys the version does not define cannot be typed and are left
    # out too (responses are validated against the pinned version, so there should be none).
    items: list[dict[str, Any]] = []
    for field in fields:
        value = responses.get(field["key"])
        if value is None:
            continue
        if field["type"] == "group":
            # One item per entry: FHIR repeats a group by repeating the item, not its answers.
            entries = value if isinstance(value, list) else []
            for entry in entries:
                nested = (
                    _items(template_id, field.get("fields", []), entry)
                    if isinstance(entry, dict)
                    else []
                )
                if nested:
                    items.append({"linkId": field["key"], "item": nested})
            continue
        answers = _answers(template_id, field, value)
        if answers:
            items.append({"linkId": field["key"], "answer": answers})
    return items


def questionnaire_response(
    completion: CompletionInput,
    template_version: TemplateVersionInput,
    *,
    base_url: str,
    patient_id: str,
    care_plan_id: str | None,
) -> dict[str, Any]:
    template_id = str(completion["template_id"])
    patient = reference("Patient", patient_id)
    return compact(
        {
            "resourceType": "QuestionnaireResponse",
            "id": fhir_id(completion["id"]),
            "meta": meta(completion.get("updated_at")),
            "basedOn": [reference("CarePlan", care_plan_id)] if care_plan_id else None,
            "questionnaire": questionnaire_canonical(
                base_url, template_id, completion["template_version"]
            ),
            "status": RESPONSE_STATUS[completion["status"]],
            "subject": patient,
            "authored": instant(completion["completed_at"]),
            # The client answers their own homework, even when staff typed the answers in.
            "source": patient,
            "item": _items(
                template_id, template_version["fields"], completion.get("responses") or {}
            ),
        }
    )
