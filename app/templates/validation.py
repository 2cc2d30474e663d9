"""Checks a client's answers against a template definition, strictly and without echoing them.

Used by completions and by the dry-run endpoint. Answers are health information, so no error
message ever contains a submitted value; messages name only the rule and the definition's
limits. Types are strict on purpose: a mobile client that sends `"3"` or `false` for a number
has a bug we want to hear about, not a value we should guess at.
"""

import math
import re
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from app.core.errors import field_error
from app.templates.definitions import (
    AnyField,
    BooleanField,
    DateField,
    DurationMinutesField,
    GroupField,
    LongTextField,
    MultiChoiceField,
    NumberField,
    PercentField,
    ScaleField,
    SingleChoiceField,
    TemplateDefinition,
    TextField,
    TimeField,
)

Loc = tuple[str | int, ...]
Errors = list[dict[str, Any]]

MAX_DURATION_MINUTES = 1440
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TIME = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")
# Marks a value that failed its check, so it stays out of the clean responses.
_INVALID = object()


def _add(errors: Errors, loc: Loc, msg: str, type_: str) -> object:
    errors.append(field_error(loc, msg, type_))
    return _INVALID


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return _is_int(value) or (isinstance(value, float) and math.isfinite(value))


def _check_bounds(
    value: float, low: float | None, high: float | None, loc: Loc, errors: Errors
) -> object:
    if low is not None and value < low:
        return _add(errors, loc, f"Must be at least {_fmt(low)}.", "less_than_min")
    if high is not None and value > high:
        return _add(errors, loc, f"Must be at most {_fmt(high)}.", "greater_than_max")
    return value


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def _check_int(value: Any, low: int, high: int, loc: Loc, errors: Errors) -> object:
    if not _is_int(value):
        return _add(errors, loc, "Must be a whole number.", "int_type")
    return _check_bounds(value, low, high, loc, errors)


def _check_scale(field: ScaleField, value: Any, loc: Loc, errors: Errors) -> object:
    return _check_int(value, field.min, field.max, loc, errors)


def _check_percent(field: PercentField, value: Any, loc: Loc, errors: Errors) -> object:
    return _check_int(value, 0, 100, loc, errors)


def _check_duration(field: DurationMinutesField, value: Any, loc: Loc, errors: Errors) -> object:
    return _check_int(value, 0, MAX_DURATION_MINUTES, loc, errors)


def _check_number(field: NumberField, value: Any, loc: Loc, errors: Errors) -> object:
    if not _is_number(value):
        return _add(errors, loc, "Must be a number.", "number_type")
    if _check_bounds(value, field.min, field.max, loc, errors) is _INVALID:
        return _INVALID
    if field.step is not None:
        base = field.min if field.min is not None else 0.0
        steps = (value - base) / field.step
        # Floats cannot hold 0.1 exactly: 0.3 is 2.9999999999999996 steps of 0.1 from 0.
        if abs(steps - round(steps)) > 1e-9 * max(1.0, abs(steps)):
            return _add(
                errors,
                loc,
                f"Must be a multiple of {_fmt(field.step)}"
                + (f" counted from {_fmt(base)}." if base else "."),
                "not_a_multiple_of_step",
            )
    return value


def _check_text(field: TextField | LongTextField, value: Any, loc: Loc, errors: Errors) -> object:
    if not isinstance(value, str):
        return _add(errors, loc, "Must be a string.", "string_type")
    if len(value) > field.max_length:
        return _add(errors, loc, f"Must be at most {field.max_length} characters.", "too_long")
    if field.required and not value.strip():
        return _add(errors, loc, "This field is required and cannot be blank.", "missing")
    return value


def _choice_error(
    field: SingleChoiceField | MultiChoiceField, value: Any, loc: Loc, errors: Errors
) -> bool:
    """Add an error and answer True when `value` is not exactly one of the option values."""
    integer_options = _is_int(field.options[0].value)
    if integer_options and not _is_int(value):
        _add(errors, loc, "Must be one of the option values (integers).", "int_type")
        return True
    if not integer_options and not isinstance(value, str):
        _add(errors, loc, "Must be one of the option values (strings).", "string_type")
        return True
    if not any(option.value == value for option in field.options):
        _add(errors, loc, "Must be one of the option values.", "invalid_choice")
        return True
    return False


def _check_single_choice(field: SingleChoiceField, value: Any, loc: Loc, errors: Errors) -> object:
    return _INVALID if _choice_error(field, value, loc, errors) else value


def _check_count(
    count: int, low: int, high: int | None, nouns: tuple[str, str], loc: Loc, errors: Errors
) -> bool:
    if count < low:
        noun = nouns[low != 1]
        _add(errors, loc, f"Must have at least {low} {noun}.", "too_few_items")
        return False
    if high is not None and count > high:
        noun = nouns[high != 1]
        _add(errors, loc, f"Must have at most {high} {noun}.", "too_many_items")
        return False
    return True


def _check_multi_choice(field: MultiChoiceField, value: Any, loc: Loc, errors: Errors) -> object:
    if not isinstance(value, list):
        return _add(errors, loc, "Must be a list of option values.", "list_type")
    before = len(errors)
    chosen: list[Any] = []
    for i, item in enumerate(value):
        if _choice_error(field, item, (*loc, i), errors):
            continue
        if item in chosen:
            _add(errors, (*loc, i), "This option is already selected.", "duplicate_choice")
            continue
        chosen.append(item)
    # A required list must say something; an optional one may be an explicit "none of these".
    low = max(field.min_selected or 0, 1 if field.required else 0)
    counted = _check_count(
        len(value), low, field.max_selected, ("selection", "selections"), loc, errors
    )
    return list(value) if counted and len(errors) == before else _INVALID


def _check_boolean(field: BooleanField, value: Any, loc: Loc, errors: Errors) -> object:
    if not isinstance(value, bool):
        return _add(errors, loc, "Must be true or false.", "bool_type")
    return value


def _check_date(field: DateField, value: Any, loc: Loc, errors: Errors) -> object:
    if not isinstance(value, str):
        return _add(errors, loc, "Must be a string with a date as YYYY-MM-DD.", "string_type")
    try:
        valid = _DATE.fullmatch(value) is not None and bool(date.fromisoformat(value))
    except ValueError:
        valid = False
    if not valid:
        return _add(errors, loc, "Must be a calendar date as YYYY-MM-DD.", "date_format")
    return value


def _check_time(field: TimeField, value: Any, loc: Loc, errors: Errors) -> object:
    if not isinstance(value, str):
        return _add(errors, loc, "Must be a string with a time as HH:MM.", "string_type")
    if _TIME.fullmatch(value) is None:
        return _add(errors, loc, "Must be a 24-hour time as HH:MM (00:00 to 23:59).", "time_format")
    return value


def _check_group(field: GroupField, value: Any, loc: Loc, errors: Errors) -> object:
    if not isinstance(value, list):
        return _add(errors, loc, "Must be a list of entries.", "list_type")
    before = len(errors)
    low = max(field.min_items, 1 if field.required else 0)
    _check_count(len(value), low, field.max_items, ("entry", "entries"), loc, errors)
    items = [_check_object(field.fields, item, (*loc, i), errors) for i, item in enumerate(value)]
    return items if len(errors) == before else _INVALID


_CHECKS: dict[type, Callable[[Any, Any, Loc, Errors], object]] = {
    TextField: _check_text,
    LongTextField: _check_text,
    NumberField: _check_number,
    ScaleField: _check_scale,
    PercentField: _check_percent,
    SingleChoiceField: _check_single_choice,
    MultiChoiceField: _check_multi_choice,
    BooleanField: _check_boolean,
    DurationMinutesField: _check_duration,
    DateField: _check_date,
    TimeField: _check_time,
    GroupField: _check_group,
}


def _check_object(fields: Sequence[AnyField], data: Any, loc: Loc, errors: Errors) -> dict:
    if not isinstance(data, dict):
        _add(errors, loc, "Must be an object keyed by field key.", "object_type")
        return {}
    known = {field.key for field in fields}
    for key in data:
        if key not in known:
            # Named in loc as pydantic does, cut to a real key's length so that a client that
            # nests an answer in a key cannot have it echoed back in full.
            name = str(key)[:63]
            _add(errors, (*loc, name), "This template has no field with this key.", "unknown_field")
    clean: dict[str, Any] = {}
    for field in fields:
        value = data.get(field.key)
        if value is None:
            if field.required:
                _add(errors, (*loc, field.key), "This field is required.", "missing")
            continue
        checked = _CHECKS[type(field)](field, value, (*loc, field.key), errors)
        if checked is not _INVALID:
            clean[field.key] = checked
    return clean


def validate_responses(
    definition: TemplateDefinition,
    responses: object,
    *,
    loc_prefix: tuple[str | int, ...] = ("body", "responses"),
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Check answers against a definition: `(clean_responses, errors)`.

    `clean_responses` holds the valid answers in form order, without nulls (an optional field
    sent as null counts as unanswered); store it only when `errors` is empty. Each error is
    `{"loc", "msg", "type"}` with `loc` starting at `loc_prefix`, one per problem.
    """
    errors: Errors = []
    clean = _check_object(definition.fields, responses, tuple(loc_prefix), errors)
    return clean, errors
