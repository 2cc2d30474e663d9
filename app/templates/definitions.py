"""A template version: its kind, texts, typed fields and optional scoring, and the rules they obey.

How errors surface. Everything is checked while the model validates, so a route that takes a
`TemplateDefinition` body answers 422 through the usual RequestValidationError handler:

- Shape rules (types, lengths, patterns, bounds) are plain pydantic constraints.
- Rules that span several values (unique keys, min < max, scoring over numeric fields, bands
  that tile the total range) live in `definition_errors()`. The model's after-validator raises
  them as one `ValidationError` built from line errors with their own `loc`, which pydantic
  merges under the outer location, so FastAPI reports e.g. `["body", "fields", 3, "options",
  1, "value"]` rather than a single error on the whole body.
- Pydantic's own locs for field-list members lose the union tag (see `fields.py`), so every
  loc reads as a path into the JSON the client sent.

`check_definition()` returns the same errors as dicts for callers that are not a route.
"""

from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from app.core.errors import field_error
from app.core.schemas import Schema
from app.core.types import NOT_BLANK
from app.templates.fields import (
    AnyField,
    BooleanField,
    ChoiceOption,
    Code,
    DateField,
    DurationMinutesField,
    FieldKey,
    GroupField,
    LongTextField,
    MultiChoiceField,
    NumberField,
    PercentField,
    ScaleField,
    ShortLabel,
    SingleChoiceField,
    SubField,
    TextField,
    TimeField,
    drop_type_tags,
    item_range,
)

__all__ = [
    "AnyField",
    "BooleanField",
    "ChoiceOption",
    "DateField",
    "DurationMinutesField",
    "GroupField",
    "LongTextField",
    "MultiChoiceField",
    "NumberField",
    "PercentField",
    "RiskRule",
    "ScaleField",
    "ScoreBand",
    "Scoring",
    "SingleChoiceField",
    "SubField",
    "TemplateDefinition",
    "TemplateKind",
    "TextField",
    "TimeField",
    "check_definition",
    "definition_errors",
    "item_range",
]

ScoreInt = Annotated[int, Field(strict=True, ge=-1_000_000, le=1_000_000)]


class TemplateKind(StrEnum):
    cbt_worksheet = "cbt_worksheet"
    journal = "journal"
    mindfulness = "mindfulness"
    behavioral = "behavioral"
    measure = "measure"


class ScoreBand(Schema):
    min: ScoreInt
    max: ScoreInt
    label: ShortLabel
    code: Code


class RiskRule(Schema):
    """An answered item whose value is at least `threshold` raises `flag`."""

    item: FieldKey
    threshold: ScoreInt
    flag: Code


class Scoring(Schema):
    method: Literal["sum"] = "sum"
    items: list[FieldKey] = Field(min_length=1, max_length=100)
    bands: list[ScoreBand] = Field(default_factory=list, max_length=20)
    risk_rules: list[RiskRule] = Field(default_factory=list, max_length=20)


class TemplateDefinition(Schema):
    kind: TemplateKind
    title: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NOT_BLANK),
    ]
    description: Annotated[str, StringConstraints(max_length=2000)] = ""
    instructions: Annotated[str, StringConstraints(max_length=20000)] = Field(
        default="", description="Markdown shown to the client before the form."
    )
    estimated_minutes: Annotated[int, Field(strict=True, ge=1, le=600)] = 10
    fields: list[AnyField] = Field(min_length=1, max_length=100)
    scoring: Scoring | None = None

    _untag_fields = field_validator("fields", mode="wrap")(drop_type_tags)

    @model_validator(mode="after")
    def _cross_field_rules(self) -> "TemplateDefinition":
        errors = definition_errors(self)
        if errors:
            raise ValidationError.from_exception_data(
                type(self).__name__,
                [
                    {
                        "type": PydanticCustomError(e["type"], e["msg"]),
                        "loc": tuple(e["loc"]),
                        "input": None,
                    }
                    for e in errors
                ],
            )
        return self


_NOT_SCOREABLE = (
    "Only number (with whole min, max and step), scale, percent and single_choice fields "
    "whose option values are all integers can be scored."
)


def _field_errors(field: Any, loc: list[str | int]) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    if isinstance(field, NumberField | ScaleField):
        low, high = field.min, field.max
        if low is not None and high is not None and low >= high:
            errors.append(
                field_error([*loc, "max"], "max must be greater than min.", "invalid_range")
            )
    if isinstance(field, SingleChoiceField | MultiChoiceField):
        seen: list[int | str] = []
        for j, option in enumerate(field.options):
            # 1 and True compare equal in Python; values are never bools here, but be exact.
            if any(type(option.value) is type(s) and option.value == s for s in seen):
                errors.append(
                    field_error(
                        [*loc, "options", j, "value"],
                        "Another option already uses this value.",
                        "duplicate_option",
                    )
                )
            seen.append(option.value)
        if len({type(v) for v in seen}) > 1:
            errors.append(
                field_error(
                    [*loc, "options"],
                    "Option values must be all integers or all strings.",
                    "mixed_option_types",
                )
            )
    if isinstance(field, MultiChoiceField):
        low, high, count = field.min_selected, field.max_selected, len(field.options)
        if low is not None and high is not None and low > high:
            errors.append(
                field_error(
                    [*loc, "min_selected"],
                    "min_selected must not exceed max_selected.",
                    "invalid_range",
                )
            )
        for name, bound in (("min_selected", low), ("max_selected", high)):
            if bound is not None and bound > count:
                errors.append(
                    field_error(
                        [*loc, name],
                        f"Must not exceed the number of options ({count}).",
                        "greater_than_options",
                    )
                )
    if isinstance(field, GroupField) and field.min_items > field.max_items:
        errors.append(
            field_error(
                [*loc, "min_items"], "min_items must not exceed max_items.", "invalid_range"
            )
        )
    return errors


def _scoring_errors(defn: TemplateDefinition) -> list[dict[str, Any]]:
    scoring = defn.scoring
    assert scoring is not None
    top_level = {f.key: f for f in defn.fields}
    errors: list[dict[str, Any]] = []

    def check_item(key: str, loc: list[str | int]) -> tuple[int, int] | None:
        field = top_level.get(key)
        if field is None:
            errors.append(field_error(loc, "No top-level field has this key.", "unknown_item"))
            return None
        found = item_range(field)
        if found is None:
            errors.append(field_error(loc, _NOT_SCOREABLE, "not_scoreable"))
        return found

    ranges: list[tuple[int, int] | None] = []
    for i, key in enumerate(scoring.items):
        loc: list[str | int] = ["scoring", "items", i]
        if key in scoring.items[:i]:
            errors.append(field_error(loc, "This item is already listed.", "duplicate_item"))
            continue
        ranges.append(check_item(key, loc))

    for i, rule in enumerate(scoring.risk_rules):
        found = check_item(rule.item, ["scoring", "risk_rules", i, "item"])
        if found is not None and not found[0] < rule.threshold <= found[1]:
            errors.append(
                field_error(
                    ["scoring", "risk_rules", i, "threshold"],
                    f"Must be above {found[0]} and at most {found[1]}, or the rule "
                    "would always or never fire.",
                    "threshold_out_of_range",
                )
            )

    for i, band in enumerate(scoring.bands):
        loc = ["scoring", "bands", i]
        if band.min > band.max:
            errors.append(field_error([*loc, "max"], "max must not be below min.", "invalid_range"))
        if any(other.code == band.code for other in scoring.bands[:i]):
            errors.append(
                field_error(
                    [*loc, "code"], "Another band already uses this code.", "duplicate_code"
                )
            )
    if errors or not scoring.bands:
        return errors

    # Bands must tile the possible totals exactly, so that every total has one band.
    valid_ranges = [r for r in ranges if r is not None]
    low = sum(r[0] for r in valid_ranges)
    high = sum(r[1] for r in valid_ranges)
    bands = scoring.bands
    if bands[0].min != low:
        errors.append(
            field_error(
                ["scoring", "bands", 0, "min"],
                f"The first band must start at the lowest possible total ({low}).",
                "bands_gap" if bands[0].min > low else "bands_out_of_range",
            )
        )
    for i in range(1, len(bands)):
        expected = bands[i - 1].max + 1
        if bands[i].min != expected:
            errors.append(
                field_error(
                    ["scoring", "bands", i, "min"],
                    f"Must be {expected}, one above the previous band's max, "
                    "so that bands neither overlap nor leave gaps.",
                    "bands_gap" if bands[i].min > expected else "bands_overlap",
                )
            )
    if bands[-1].max != high:
        errors.append(
            field_error(
                ["scoring", "bands", len(bands) - 1, "max"],
                f"The last band must end at the highest possible total ({high}).",
                "bands_gap" if bands[-1].max < high else "bands_out_of_range",
            )
        )
    return errors


def definition_errors(defn: TemplateDefinition) -> list[dict[str, Any]]:
    """Rules that span several values, with locs relative to the definition."""
    errors: list[dict[str, Any]] = []
    # Keys are unique across the whole form, group sub-fields included: exports (FHIR linkId)
    # and analytics address an answer by its key alone.
    seen_keys: set[str] = set()

    def claim(key: str, loc: list[str | int]) -> None:
        if key in seen_keys:
            errors.append(
                field_error([*loc, "key"], "Another field already uses this key.", "duplicate_key")
            )
        seen_keys.add(key)

    for i, field in enumerate(defn.fields):
        claim(field.key, ["fields", i])
        errors.extend(_field_errors(field, ["fields", i]))
        if isinstance(field, GroupField):
            for j, sub in enumerate(field.fields):
                claim(sub.key, ["fields", i, "fields", j])
                errors.extend(_field_errors(sub, ["fields", i, "fields", j]))
    if defn.scoring is not None:
        errors.extend(_scoring_errors(defn))
    return errors


def check_definition(
    definition: TemplateDefinition | Mapping[str, Any],
    *,
    loc_prefix: tuple[str | int, ...] = ("body",),
) -> list[dict[str, Any]]:
    """Every problem with a definition as `{"loc", "msg", "type"}` dicts; empty when it is sound.

    Takes the raw JSON object (checked exactly as a request body would be) or a model, whose
    cross-field rules are checked again in case it was built without validation.
    """
    if isinstance(definition, TemplateDefinition):
        errors = definition_errors(definition)
    else:
        try:
            TemplateDefinition.model_validate(definition)
            errors = []
        except ValidationError as exc:
            errors = [field_error(e["loc"], e["msg"], e["type"]) for e in exc.errors()]
    return [{**e, "loc": [*loc_prefix, *e["loc"]]} for e in errors]
