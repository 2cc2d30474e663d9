"""Who the record is about and who looks after them: Patient, Practitioner and Organization."""

import re
from typing import Any

from app.fhir.common import (
    CLIENT_IDENTIFIER_SYSTEM,
    compact,
    fhir_id,
    meta,
    reference,
    text_or_none,
)
from app.fhir.inputs import ClientInput, ClinicInput, TherapistInput

# An invited client's record is already in use by the clinic (assignments can be prepared
# before they accept), so only a deactivated client's record is inactive.
PATIENT_ACTIVE = {"invited": True, "active": True, "deactivated": False}
_ABSOLUTE_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:\S+")


def _name(display_name: str | None) -> list[dict[str, Any]] | None:
    # Display names are free text ("Sam", "Dr. A. Jones"): we do not guess given/family parts.
    text = text_or_none(display_name)
    return [{"text": text}] if text else None


def _email(email: str | None) -> list[dict[str, Any]] | None:
    value = text_or_none(email)
    return [{"system": "email", "value": value}] if value else None


def _identifier(system: str | None, value: str) -> dict[str, Any]:
    # Staff may label an external id "Epic MRN" rather than give a URI; FHIR wants an absolute
    # URI in `system`, so such a label is kept as the identifier's type text instead.
    system = text_or_none(system)
    if system is not None and _ABSOLUTE_URI.fullmatch(system):
        return {"system": system, "value": value}
    return compact({"type": {"text": system} if system else None, "value": value})


def patient(client: ClientInput, clinic_id: str | None) -> dict[str, Any]:
    identifiers = [
        _identifier(e.get("system"), e["value"])
        for e in client.get("external_ids") or []
        if text_or_none(e.get("value"))
    ]
    identifiers.append({"system": CLIENT_IDENTIFIER_SYSTEM, "value": str(client["id"])})
    return compact(
        {
            "resourceType": "Patient",
            "id": fhir_id(client["id"]),
            "meta": meta(client.get("updated_at")),
            "identifier": identifiers,
            "active": PATIENT_ACTIVE[client["status"]],
            "name": _name(client.get("display_name")),
            "telecom": _email(client.get("email")),
            "managingOrganization": reference("Organization", clinic_id) if clinic_id else None,
        }
    )


def practitioner(therapist: TherapistInput) -> dict[str, Any]:
    return compact(
        {
            "resourceType": "Practitioner",
            "id": fhir_id(therapist["id"]),
            "name": _name(therapist.get("display_name")),
            "telecom": _email(therapist.get("email")),
        }
    )


def organization(clinic: ClinicInput) -> dict[str, Any]:
    return compact(
        {
            "resourceType": "Organization",
            "id": fhir_id(clinic["id"]),
            "name": text_or_none(clinic.get("name")),
        }
    )
