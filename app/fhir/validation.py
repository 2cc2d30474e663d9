"""Checks every produced resource against the fhir.resources R4B models before it leaves us.

A failure here is a bug in a mapper, not bad input from a user, so it raises rather than
returning something half-valid: an EHR that imports an invalid resource may reject the whole
bundle, or worse, accept it and misread it. The models check structure and datatypes (ids'
characters, instants, dates, required elements, unknown elements); they do not check that
codes are in their value sets: mappers use fixed code tables, and the tests check them
against the R4 value sets (`tests/fhir/fhir_checks.py`).
"""

from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError


class InvalidFhirResource(ValueError):
    """A mapped resource that the R4B model rejects; `errors` are pydantic's error dicts."""

    def __init__(self, resource_type: str, resource_id: str | None, errors: list[Any]) -> None:
        self.resource_type = resource_type
        self.resource_id = resource_id
        self.errors = errors
        # Locations and messages only: the input values may be health information.
        details = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors[:10]
        )
        super().__init__(f"{resource_type}/{resource_id} is not valid FHIR R4B: {details}")


def validate_resource(resource: dict[str, Any]) -> dict[str, Any]:
    """Parse `resource` with the R4B model for its resourceType; return it unchanged if valid."""
    resource_type = resource["resourceType"]
    model = get_fhir_model_class(resource_type)
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        raise InvalidFhirResource(
            resource_type, resource.get("id"), exc.errors(include_input=False)
        ) from None
    return resource
