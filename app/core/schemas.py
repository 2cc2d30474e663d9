"""The one base of request models: a body with a field the contract does not name is a 422.

A typo (`"dispaly_name"`) or a field the caller may not set (`"clinic_id"`, `"reviewed_by"`)
is refused with a problem naming it, never silently dropped. Response models stay plain
`BaseModel`s: they never read foreign input.
"""

from pydantic import BaseModel, ConfigDict


class Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)
