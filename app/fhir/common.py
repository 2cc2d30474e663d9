"""Small building blocks shared by the FHIR mappers: ids, references, canonicals, time values."""

import re
import uuid
from datetime import UTC, date, datetime
from typing import Any

from app.fhir.inputs import Day, Timestamp

# FHIR's id datatype; the library checks the characters but not the length, so we check both.
ID_PATTERN = re.compile(r"[A-Za-z0-9\-\.]{1,64}")
# Our own identifier and code-system namespace; URNs because they name things, not places.
URN = "urn:homework-api"
CLIENT_IDENTIFIER_SYSTEM = f"{URN}:client"
UCUM = "http://unitsofmeasure.org"
LOINC = "http://loinc.org"
# Derived resources (adherence Observations) have no row of their own: their ids are name-based
# UUIDs, so the same period always gets the same id across exports.
_DERIVED_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, f"{URN}:fhir")


def fhir_id(value: object) -> str:
    """`value` as a FHIR id; ValueError if it cannot be one (a caller bug, never user input)."""
    text = str(value)
    if not ID_PATTERN.fullmatch(text):
        raise ValueError(f"{text[:80]!r} is not a valid FHIR id")
    return text


def derived_id(*parts: object) -> str:
    return str(uuid.uuid5(_DERIVED_ID_NAMESPACE, "/".join(str(p) for p in parts)))


def reference(resource_type: str, resource_id: object, display: str | None = None) -> dict:
    ref: dict[str, Any] = {"reference": f"{resource_type}/{fhir_id(resource_id)}"}
    if display:
        ref["display"] = display
    return ref


def full_url(base_url: str, resource: dict) -> str:
    return f"{base_url.rstrip('/')}/{resource['resourceType']}/{resource['id']}"


# Questionnaires. `url` names the template (stable across versions), `version` the pinned
# template version, and references use FHIR's `url|version` canonical form. Each version is
# its own resource, so two versions can share a bundle: the id carries the version.


def questionnaire_url(base_url: str, template_id: object) -> str:
    return f"{base_url.rstrip('/')}/Questionnaire/{fhir_id(template_id)}"


def questionnaire_canonical(base_url: str, template_id: object, version: int) -> str:
    """The versioned canonical a CarePlan activity or QuestionnaireResponse points at."""
    return f"{questionnaire_url(base_url, template_id)}|{int(version)}"


def questionnaire_id(template_id: object, version: int) -> str:
    """Resource id of one template version, e.g. `0190...-v3` (unique within a bundle)."""
    return fhir_id(f"{template_id}-v{int(version)}")


def template_system(template_id: object, what: str) -> str:
    """Code system URI for codes a template defines (option values, band codes, risk flags)."""
    return f"{URN}:template:{template_id}:{what}"


def parse_instant(value: Timestamp) -> datetime:
    """An aware datetime; a naive one is taken as UTC, which is how the API stores times."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def instant(value: Timestamp) -> str:
    """A FHIR instant/dateTime: RFC 3339 with an offset, as FHIR requires once a time is given."""
    return parse_instant(value).isoformat()


def day(value: Day) -> str:
    """A FHIR date (`YYYY-MM-DD`); a datetime keeps its own calendar date."""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return date.fromisoformat(value).isoformat()


def hms(value: str) -> str:
    """`HH:MM` (our times) as FHIR's `time` type, which requires seconds."""
    return value if value.count(":") == 2 else f"{value}:00"


def text_or_none(value: str | None) -> str | None:
    # FHIR strings cannot be empty or blank: an absent element says "nothing here".
    return value if value is not None and value.strip() else None


def compact(data: dict[str, Any]) -> dict[str, Any]:
    """Drop None, empty strings and empty lists/dicts, which FHIR does not allow."""
    return {
        k: v
        for k, v in data.items()
        if v is not None and not (isinstance(v, str | list | dict) and not v)
    }


def meta(updated: Timestamp | None) -> dict[str, Any] | None:
    return {"lastUpdated": instant(updated)} if updated is not None else None
