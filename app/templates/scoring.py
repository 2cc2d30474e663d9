"""Scores a template's answers (sum, severity band, risk flags) without guessing at skipped items."""

from typing import Any

from pydantic import BaseModel, Field

from app.templates.definitions import TemplateDefinition


class Score(BaseModel):
    total: int | None = Field(
        description="Sum of the scored items; null while any of them is unanswered."
    )
    band: str | None = Field(description="Code of the severity band the total falls in.")
    band_label: str | None = Field(description="Human-readable name of that band.")
    risk: bool = Field(description="True when any risk rule fired; review promptly.")
    risk_flags: list[str] = Field(description="Flags of the risk rules that fired, in rule order.")
    missing_items: list[str] = Field(description="Keys of scored items left unanswered.")
    complete: bool = Field(description="True when every scored item was answered.")


def _item_value(value: Any) -> int | None:
    # Clean responses hold whole numbers for every scoreable field (the definition rules see to
    # that); anything else is treated as unanswered rather than coerced into a number.
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def score_responses(
    definition: TemplateDefinition, clean_responses: dict[str, Any]
) -> Score | None:
    """Score answers already passed through `validate_responses`; None if nothing is scored.

    A skipped item leaves `total` and `band` null (a partial sum would read as a milder
    result than the client has) and is listed in `missing_items`. Risk rules still apply to
    whatever was answered: an answered PHQ-9 item 9 must raise its flag on an incomplete form.
    """
    scoring = definition.scoring
    if scoring is None:
        return None
    values: list[int] = []
    missing: list[str] = []
    for key in scoring.items:
        value = _item_value(clean_responses.get(key))
        if value is None:
            missing.append(key)
        else:
            values.append(value)

    total = None if missing else sum(values)
    band = None
    if total is not None:
        band = next((b for b in scoring.bands if b.min <= total <= b.max), None)

    flags: list[str] = []
    for rule in scoring.risk_rules:
        value = _item_value(clean_responses.get(rule.item))
        if value is not None and value >= rule.threshold and rule.flag not in flags:
            flags.append(rule.flag)

    return Score(
        total=total,
        band=band.code if band else None,
        band_label=band.label if band else None,
        risk=bool(flags),
        risk_flags=flags,
        missing_items=missing,
        complete=not missing,
    )
