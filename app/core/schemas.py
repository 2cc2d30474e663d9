"""The one base of request models: a body with a field the contract does not name is a 422.

A typo (`"dispaly_name"`) or a field the caller may not set (`"clinic_id"`, `"reviewed_by"`)
is refused with a problem naming it, never silently dropped. Response models stay plain
`BaseModel`s: they never read foreign input.
"""

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import PydanticCustomError


class Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)


def raise_field_errors(title: str, errors: list[tuple[tuple[str | int, ...], str, str]]) -> None:
    """Raise cross-field errors (loc, message, type) from a model validator, each with its own
    `loc`, which pydantic merges under the outer location: a 422 points into the JSON sent."""
    if errors:
        raise ValidationError.from_exception_data(
            title,
            [
                {"type": PydanticCustomError(kind, msg), "loc": loc, "input": None}
                for loc, msg, kind in errors
            ],
        )
