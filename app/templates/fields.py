"""Field types of a template: the typed questions a client answers, one model per `type`.

Pydantic puts the discriminator tag into the loc of tagged-union members
(`["fields", 3, "single_choice", "options"]`). `drop_type_tags`, a wrap validator on every
field list, removes it so that each loc reads as a path into the JSON the client sent.
"""

from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    StringConstraints,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from app.core.schemas import Schema
from app.core.types import NOT_BLANK

KEY_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
OPTION_CODE_PATTERN = r"^[a-z0-9][a-z0-9_]{0,62}$"

FieldKey = Annotated[str, StringConstraints(pattern=KEY_PATTERN)]
Code = Annotated[str, StringConstraints(pattern=KEY_PATTERN)]
OptionCode = Annotated[str, StringConstraints(pattern=OPTION_CODE_PATTERN)]
Label = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300, pattern=NOT_BLANK)
]
ShortLabel = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=NOT_BLANK)
]
HelpText = Annotated[str, StringConstraints(max_length=1000)]
StrictBool = Annotated[bool, Field(strict=True)]
# Bounded so that a definition can never make the server do arithmetic on absurd numbers.
Bound = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=-1e9, le=1e9)]
OptionInt = Annotated[int, Field(strict=True, ge=-1000, le=1000)]


class _FieldBase(Schema):
    # Declared here only so that `type` comes first when a definition is serialized.
    type: str
    key: FieldKey = Field(description="Stable identifier; responses are keyed by it.")
    label: Label
    help: HelpText | None = None
    required: StrictBool = False


class TextField(_FieldBase):
    type: Literal["text"]
    max_length: Annotated[int, Field(strict=True, ge=1, le=2000)] = 500


class LongTextField(_FieldBase):
    type: Literal["long_text"]
    max_length: Annotated[int, Field(strict=True, ge=1, le=20000)] = 10000


class NumberField(_FieldBase):
    type: Literal["number"]
    min: Bound | None = None
    max: Bound | None = None
    step: Annotated[float, Field(strict=True, allow_inf_nan=False, gt=0, le=1e9)] | None = None


class ScaleField(_FieldBase):
    """Whole points from `min` to `max`, e.g. a 0-10 mood rating."""

    type: Literal["scale"]
    min: Annotated[int, Field(strict=True, ge=-100, le=100)] = 0
    max: Annotated[int, Field(strict=True, ge=-100, le=100)] = 10
    min_label: ShortLabel | None = None
    max_label: ShortLabel | None = None


class PercentField(_FieldBase):
    """A whole percentage 0-100, as in 'how strong was the feeling'."""

    type: Literal["percent"]


class ChoiceOption(Schema):
    value: OptionInt | OptionCode
    label: Label

    @field_validator("value", mode="wrap")
    @classmethod
    def _one_error_for_value(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        # Pydantic would report one error per union member, with its internal name in the loc.
        try:
            return handler(value)
        except ValidationError:
            raise PydanticCustomError(
                "option_value",
                "Must be an integer from -1000 to 1000, or a code of lowercase letters, digits "
                "and underscores.",
            ) from None


class SingleChoiceField(_FieldBase):
    type: Literal["single_choice"]
    options: list[ChoiceOption] = Field(min_length=1, max_length=100)


class MultiChoiceField(_FieldBase):
    type: Literal["multi_choice"]
    options: list[ChoiceOption] = Field(min_length=1, max_length=100)
    min_selected: Annotated[int, Field(strict=True, ge=0, le=100)] | None = None
    max_selected: Annotated[int, Field(strict=True, ge=1, le=100)] | None = None


class BooleanField(_FieldBase):
    type: Literal["boolean"]


class DurationMinutesField(_FieldBase):
    type: Literal["duration_minutes"]


class DateField(_FieldBase):
    type: Literal["date"]


class TimeField(_FieldBase):
    type: Literal["time"]


FIELD_TYPES = frozenset(
    {
        "text",
        "long_text",
        "number",
        "scale",
        "percent",
        "single_choice",
        "multi_choice",
        "boolean",
        "duration_minutes",
        "date",
        "time",
        "group",
    }
)


def drop_type_tags(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """Validate a field list, reporting locs as JSON paths (without pydantic's union tag)."""
    try:
        return handler(value)
    except ValidationError as exc:
        line_errors: list[InitErrorDetails] = []
        for error in exc.errors():
            loc = tuple(error["loc"])
            if len(loc) >= 2 and isinstance(loc[0], int) and loc[1] in FIELD_TYPES:
                loc = (loc[0], *loc[2:])
            line_errors.append(
                {
                    "type": PydanticCustomError(error["type"], error["msg"]),
                    "loc": loc,
                    "input": error.get("input"),
                }
            )
        raise ValidationError.from_exception_data(exc.title, line_errors) from None


SubField = Annotated[
    TextField
    | LongTextField
    | NumberField
    | ScaleField
    | PercentField
    | SingleChoiceField
    | MultiChoiceField
    | BooleanField
    | DurationMinutesField
    | DateField
    | TimeField,
    Field(discriminator="type"),
]


class GroupField(_FieldBase):
    """A repeatable set of sub-fields (e.g. emotion + intensity). Groups do not nest."""

    type: Literal["group"]
    fields: list[SubField] = Field(min_length=1, max_length=50)
    min_items: Annotated[int, Field(strict=True, ge=0, le=50)] = 0
    max_items: Annotated[int, Field(strict=True, ge=1, le=50)] = 10

    _untag_fields = field_validator("fields", mode="wrap")(drop_type_tags)


AnyField = Annotated[
    TextField
    | LongTextField
    | NumberField
    | ScaleField
    | PercentField
    | SingleChoiceField
    | MultiChoiceField
    | BooleanField
    | DurationMinutesField
    | DateField
    | TimeField
    | GroupField,
    Field(discriminator="type"),
]


def item_range(field: Any) -> tuple[int, int] | None:
    """The integer range a field can contribute to a sum, or None if it cannot be scored."""
    if isinstance(field, ScaleField):
        return field.min, field.max
    if isinstance(field, PercentField):
        return 0, 100
    if isinstance(field, SingleChoiceField):
        values = [o.value for o in field.options if isinstance(o.value, int)]
        if len(values) != len(field.options):
            return None
        return min(values), max(values)
    if isinstance(field, NumberField):
        # A sum must stay a whole number with a known range: whole min, max and step only.
        low, high, step = field.min, field.max, field.step
        if low is None or high is None or step is None:
            return None
        if not all(float(b).is_integer() for b in (low, high, step)):
            return None
        return int(low), int(high)
    return None
