"""Public entry points: a client's whole homework record as a FHIR R4 collection Bundle.

Pure functions over plain dicts (see `inputs.py`): the caller loads the rows, scoped to the
principal, and hands them over; nothing here touches the database or HTTP. Every resource is
checked against the fhir.resources R4B models before it is returned (see `validation.py`).

`since` works like `_since` on `Patient/$everything`: only resources whose source row changed
at or after it are returned, plus the Patient, which anchors the bundle. Resources that have
no timestamp of their own (the clinic, the care team, adherence figures computed at export
time) are small and always included. In a `since` bundle, references may lead to resources
sent in an earlier export; in a full bundle every reference resolves inside it.
"""

from datetime import UTC, datetime
from typing import Any

from app.fhir import questionnaire as questionnaire_mapper
from app.fhir.careplan import care_plan, goal, latest
from app.fhir.common import (
    fhir_id,
    full_url,
    instant,
    parse_instant,
    questionnaire_canonical,
    questionnaire_id,
    questionnaire_url,
)
from app.fhir.inputs import EverythingInput, TemplateVersionInput, Timestamp
from app.fhir.observations import adherence_observation, score_observation
from app.fhir.patient import organization, patient, practitioner
from app.fhir.response import questionnaire_response
from app.fhir.validation import InvalidFhirResource, validate_resource

__all__ = [
    "InvalidFhirResource",
    "MissingTemplateVersion",
    "everything_bundle",
    "questionnaire",
    "questionnaire_canonical",
    "questionnaire_id",
    "questionnaire_url",
]

VersionKey = tuple[str, int]


class MissingTemplateVersion(ValueError):
    """An assignment or completion pins a template version the caller did not pass in."""

    def __init__(self, missing: list[VersionKey]) -> None:
        self.missing = missing
        listed = ", ".join(f"{t} v{v}" for t, v in missing)
        super().__init__(f"template_versions lacks the pinned versions: {listed}")


def questionnaire(
    template_version: TemplateVersionInput, base_url: str, *, validate: bool = True
) -> dict[str, Any]:
    """One template version as a FHIR Questionnaire (for `GET .../Questionnaire/{id}`)."""
    resource = questionnaire_mapper.questionnaire(template_version, base_url)
    return validate_resource(resource) if validate else resource


def _used_versions(data: EverythingInput) -> list[VersionKey]:
    # Assignments first, then completions, each in input order: a stable bundle order.
    rows = [*(data.get("assignments") or []), *(data.get("completions") or [])]
    keys = [(str(row["template_id"]), int(row["template_version"])) for row in rows]
    return list(dict.fromkeys(keys))


def everything_bundle(
    data: EverythingInput, *, now: datetime | None = None, validate: bool = True
) -> dict[str, Any]:
    """The client's record as a `collection` Bundle; `now` fixes `timestamp` (tests).

    Raises MissingTemplateVersion when a pinned version is not in `template_versions`, and
    InvalidFhirResource (a mapper bug) when `validate` is on and a resource fails the models.
    """
    base_url = data["base_url"].rstrip("/")
    since = parse_instant(raw_since) if (raw_since := data.get("since")) else None
    client = data["client"]
    patient_id = fhir_id(client["id"])
    clinic = data.get("clinic")
    therapists = data.get("therapists") or []
    assignments = data.get("assignments") or []
    completions = data.get("completions") or []
    goals = data.get("goals") or []

    versions = {
        (str(tv["template_id"]), int(tv["version"])): tv
        for tv in data.get("template_versions") or []
    }
    used = _used_versions(data)
    missing = [key for key in used if key not in versions]
    if missing:
        raise MissingTemplateVersion(missing)

    def changed(stamp: Timestamp | None) -> bool:
        return since is None or stamp is None or parse_instant(stamp) >= since

    entries: list[dict[str, Any]] = []
    seen: set[str] = set()

    def add(resource: dict[str, Any] | None) -> None:
        if resource is None:
            return
        url = full_url(base_url, resource)
        if url in seen:
            raise ValueError(f"two resources map to {resource['resourceType']}/{resource['id']}")
        seen.add(url)
        entries.append(
            {"fullUrl": url, "resource": validate_resource(resource) if validate else resource}
        )

    add(patient(client, str(clinic["id"]) if clinic else None))
    if clinic:
        add(organization(clinic))
    for therapist in therapists:
        add(practitioner(therapist))

    # The plan changes whenever an assignment, a goal, a step or a completion does (each
    # completion adds an outcome to its activity).
    plan_id = patient_id if assignments or goals else None
    if plan_id is not None:
        plan_updated = latest(
            [
                *(row.get("updated_at") for row in (*assignments, *goals, *completions)),
                *(s.get("done_at") for g in goals for s in g.get("steps") or []),
            ]
        )
        if changed(plan_updated):
            outcomes: dict[str, list[str]] = {}
            for completion in completions:
                outcomes.setdefault(str(completion["assignment_id"]), []).append(
                    str(completion["id"])
                )
            add(
                care_plan(
                    patient_id=patient_id,
                    assignments=assignments,
                    goals=goals,
                    therapist_ids=[str(t["id"]) for t in therapists],
                    outcomes=outcomes,
                    last_updated=plan_updated,
                    base_url=base_url,
                )
            )
    for row in goals:
        if changed(row.get("updated_at")):
            add(goal(row, patient_id))
    for key in used:
        if changed(versions[key].get("created_at")):
            add(questionnaire_mapper.questionnaire(versions[key], base_url))
    for completion in completions:
        if not changed(completion.get("updated_at")):
            continue
        version = versions[(str(completion["template_id"]), int(completion["template_version"]))]
        add(
            questionnaire_response(
                completion,
                version,
                base_url=base_url,
                patient_id=patient_id,
                care_plan_id=plan_id,
            )
        )
        add(score_observation(completion, version, patient_id))
    for period in data.get("adherence") or []:
        add(adherence_observation(period, patient_id))
    # Made at export time (the latest progress report): always included.
    for document in data.get("documents") or []:
        add(document)

    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": instant(now or datetime.now(UTC)),
        "entry": entries,
    }
