"""The progress report as a FHIR R4 DocumentReference whose attachment is the PDF itself.

Type: LOINC 11506-3 "Progress note" (the document ontology's generic progress note: a report of
how the client is doing over a period, written for the record, which is what this is; no more
specific LOINC document code names homework or measurement-based-care reports). Category:
`clinical-note`. The attachment carries the PDF as base64 `data`, its `size` in bytes and its
`hash`, the base64 of its SHA-1, as FHIR's Attachment defines them.
"""

import base64
import hashlib
from datetime import date, datetime
from typing import Any

from app.fhir.common import LOINC, compact, day, fhir_id, instant, reference

PROGRESS_NOTE = {"system": LOINC, "code": "11506-3", "display": "Progress note"}
CLINICAL_NOTE = {
    "system": "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category",
    "code": "clinical-note",
    "display": "Clinical Note",
}


def document_reference(
    *,
    document_id: str,
    patient_id: str,
    clinic_id: str | None,
    pdf: bytes,
    generated_at: datetime,
    period: tuple[date, date],
    title: str,
) -> dict[str, Any]:
    start, end = period
    return compact(
        {
            "resourceType": "DocumentReference",
            "id": fhir_id(document_id),
            "meta": {"lastUpdated": instant(generated_at)},
            "status": "current",
            "docStatus": "final",
            "type": {"coding": [PROGRESS_NOTE], "text": "Homework progress report"},
            "category": [{"coding": [CLINICAL_NOTE]}],
            "subject": reference("Patient", patient_id),
            "date": instant(generated_at),
            "author": [reference("Organization", clinic_id)] if clinic_id else None,
            "custodian": reference("Organization", clinic_id) if clinic_id else None,
            "description": title,
            "content": [
                {
                    "attachment": {
                        "contentType": "application/pdf",
                        "language": "en",
                        "data": base64.b64encode(pdf).decode("ascii"),
                        "size": len(pdf),
                        "hash": base64.b64encode(hashlib.sha1(pdf).digest()).decode("ascii"),  # noqa: S324 - FHIR's Attachment.hash is SHA-1
                        "title": f"{title}.pdf",
                        "creation": instant(generated_at),
                    }
                }
            ],
            "context": {"period": {"start": day(start), "end": day(end)}},
        }
    )
