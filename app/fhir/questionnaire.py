"""A template version as a FHIR Questionnaire: one item per field, linkId = the field key.

Choice options become Codings (code = the option value, display = its label) rather than
bare integers or strings, so that a renderer can show the labels; integer options, which are
what scoring sums, also carry their number in the `ordinalValue` extension. Limits that FHIR
has no element for (scale bounds, group sizes, units) use the core Questionnaire extensions.
"""

import re
from typing import Any

from app.fhir.common import (
    LOINC,
    UCUM,
    compact,
    instant,
    meta,
    questionnaire_id,
    questionnaire_url,
    template_system,
    text_or_none,
)
from app.fhir.inputs import TemplateVersionInput

EXT = "http://hl7.org/fhir/StructureDefinition/"
ITEM_CONTROL_SYSTEM = "http://hl7.org/fhir/questionnaire-item-control"
# Field keys match `[a-z][a-z0-9_]*`, so a linkId with a hyphen can never clash with one.
INSTRUCTIONS_LINK_ID = "template-instructions"

ITEM_TYPE = {
    "text": "string",
    "long_text": "text",
    "number": "decimal",
    "scale": "integer",
    "percent": "integer",
    "single_choice": "choice",
    "multi_choice": "choice",
    "boolean": "boolean",
    "duration_minutes": "integer",
    "date": "date",
    "time": "time",
    "group": "group",
}
# The same ceiling `app.templates.validation` enforces for durations (one day).
MAX_DURATION_MINUTES = 1440
# The published instruments, so that an EHR recognises the form itself, not only its score.
PANEL_LOINC = {"phq-9": "44249-1", "gad-7": "69737-5"}


def option_coding(template_id: str, field_key: str, option: dict[str, Any]) -> dict[str, Any]:
    """The Coding for one choice option; QuestionnaireResponse answers use the same one."""
    return compact(
        {
            "system": template_system(template_id, f"options:{field_key}"),
            "code": str(option["value"]),
            "display": text_or_none(option.get("label")),
        }
    )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _ext(name: str, value_type: str, value: Any) -> dict[str, Any]:
    return {"url": EXT + name, value_type: value}


def _display(link_id: str, text: str | None, control: str) -> dict[str, Any] | None:
    if not text_or_none(text):
        return None
    control_ext = _ext(
        "questionnaire-itemControl",
        "valueCodeableConcept",
        {"coding": [{"system": ITEM_CONTROL_SYSTEM, "code": control}]},
    )
    return {"linkId": link_id, "text": text, "type": "display", "extension": [control_ext]}


def _bounds(field: dict[str, Any]) -> list[dict[str, Any]]:
    kind = field["type"]
    low, high, value_type = None, None, "valueInteger"
    if kind == "scale":
        low, high = field.get("min", 0), field.get("max", 10)
    elif kind == "percent":
        low, high = 0, 100
    elif kind == "duration_minutes":
        low, high = 0, MAX_DURATION_MINUTES
    elif kind == "number":
        low, high, value_type = field.get("min"), field.get("max"), "valueDecimal"
    return [
        _ext(name, value_type, bound)
        for name, bound in (("minValue", low), ("maxValue", high))
        if bound is not None
    ]


def _occurs(field: dict[str, Any]) -> list[dict[str, Any]]:
    # Mirrors the response rules: a required list needs at least one entry.
    kind, required = field["type"], bool(field.get("required"))
    if kind == "group":
        low, high = max(field.get("min_items", 0), int(required)), field.get("max_items")
    elif kind == "multi_choice":
        low, high = max(field.get("min_selected") or 0, int(required)), field.get("max_selected")
    else:
        return []
    found = []
    if low:
        found.append(_ext("questionnaire-minOccurs", "valueInteger", low))
    if high is not None:
        found.append(_ext("questionnaire-maxOccurs", "valueInteger", high))
    return found


def _unit(field: dict[str, Any]) -> list[dict[str, Any]]:
    unit = {"duration_minutes": ("min", "minutes"), "percent": ("%", "%")}.get(field["type"])
    if unit is None:
        return []
    coding = {"system": UCUM, "code": unit[0], "display": unit[1]}
    return [_ext("questionnaire-unit", "valueCoding", coding)]


def _answer_options(template_id: str, field: dict[str, Any]) -> list[dict[str, Any]]:
    options = []
    for option in field.get("options", []):
        coding = option_coding(template_id, field["key"], option)
        if _is_int(option["value"]):
            # What a scoring engine sums (PHQ-9's 0-3); R4's name for an answer's weight.
            coding["extension"] = [_ext("ordinalValue", "valueDecimal", option["value"])]
        options.append({"valueCoding": coding})
    return options


def _item(template_id: str, field: dict[str, Any]) -> dict[str, Any]:
    kind, key = field["type"], field["key"]
    children = [_item(template_id, sub) for sub in field.get("fields", [])]
    children += [
        d
        for d in (
            _display(f"{key}-help", field.get("help"), "help"),
            _display(f"{key}-lower", field.get("min_label"), "lower"),
            _display(f"{key}-upper", field.get("max_label"), "upper"),
        )
        if d is not None
    ]
    return compact(
        {
            "linkId": key,
            "text": text_or_none(field.get("label")),
            "type": ITEM_TYPE[kind],
            "required": bool(field.get("required")),
            # Group entries repeat (emotion + intensity, several times); so do multi-choices.
            "repeats": True if kind in ("group", "multi_choice") else None,
            "maxLength": field.get("max_length") if kind in ("text", "long_text") else None,
            "extension": _bounds(field) + _occurs(field) + _unit(field),
            "answerOption": _answer_options(template_id, field),
            "item": children,
        }
    )


def _instructions(markdown: str | None) -> dict[str, Any] | None:
    text = text_or_none(markdown)
    if text is None:
        return None
    # `text` is plain; the extension tells renderers that know it to show it as markdown.
    rendering = _ext("rendering-markdown", "valueMarkdown", text)
    return {
        "linkId": INSTRUCTIONS_LINK_ID,
        "text": text,
        "_text": {"extension": [rendering]},
        "type": "display",
    }


def _computable_name(slug: str) -> str | None:
    # Questionnaire.name must look like `[A-Z][A-Za-z0-9_]*` (que-0): "phq-9" -> "Phq9".
    name = "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", slug))
    return name if re.fullmatch(r"[A-Z][A-Za-z0-9_]{0,254}", name) else None


def questionnaire(template_version: TemplateVersionInput, base_url: str) -> dict[str, Any]:
    """One template version as a Questionnaire (not validated; see `mapping.questionnaire`)."""
    template_id = str(template_version["template_id"])
    version = int(template_version["version"])
    slug = template_version.get("slug") or ""
    items = [_item(template_id, field) for field in template_version["fields"]]
    intro = _instructions(template_version.get("instructions"))
    panel = PANEL_LOINC.get(slug)
    return compact(
        {
            "resourceType": "Questionnaire",
            "id": questionnaire_id(template_id, version),
            # Versions never change once published: their creation is their last update.
            "meta": meta(template_version.get("created_at")),
            "url": questionnaire_url(base_url, template_id),
            "version": str(version),
            "name": _computable_name(slug),
            "title": text_or_none(template_version.get("title")),
            "status": "active",
            "date": instant(template_version["created_at"])
            if template_version.get("created_at")
            else None,
            "description": text_or_none(template_version.get("description")),
            "subjectType": ["Patient"],
            "code": [{"system": LOINC, "code": panel}] if panel else None,
            "item": [intro, *items] if intro else items,
        }
    )
