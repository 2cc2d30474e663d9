"""Scoring: published PHQ-9 and GAD-7 totals, bands and risk flags; skipped items never guessed.

Expected totals are the sums of the listed answers (0 "Not at all" .. 3 "Nearly every day"),
and bands the published cut-offs: PHQ-9 0-4 minimal, 5-9 mild, 10-14 moderate, 15-19
moderately severe, 20-27 severe; GAD-7 0-4 minimal, 5-9 mild, 10-14 moderate, 15-21 severe.
"""

import pytest

from app.templates.definitions import TemplateDefinition
from app.templates.library import get_builtin
from app.templates.scoring import Score, score_responses
from app.templates.validation import validate_responses

PHQ9 = get_builtin("phq-9").definition
GAD7 = get_builtin("gad-7").definition


def answers(*values):
    return {f"item_{n}": value for n, value in enumerate(values, start=1)}


def score(definition, responses):
    clean, errors = validate_responses(definition, responses)
    assert errors == []
    result = score_responses(definition, clean)
    assert result is not None
    return result


def test_phq9_all_ones_is_nine_mild_and_item_9_flags_risk():
    result = score(PHQ9, answers(1, 1, 1, 1, 1, 1, 1, 1, 1))
    assert (result.total, result.band, result.band_label) == (9, "mild", "Mild")
    assert (result.risk, result.risk_flags, result.complete) == (True, ["self_harm"], True)


def test_phq9_without_item_9_raises_no_risk():
    result = score(PHQ9, answers(1, 1, 1, 1, 1, 1, 1, 1, 0))
    assert (result.total, result.band) == (8, "mild")
    assert (result.risk, result.risk_flags) == (False, [])


def test_phq9_item_9_above_zero_raises_the_self_harm_flag():
    result = score(PHQ9, answers(1, 1, 1, 1, 1, 1, 1, 1, 2))
    assert (result.total, result.band) == (10, "moderate")
    assert (result.risk, result.risk_flags) == (True, ["self_harm"])


def test_phq9_item_9_flags_risk_even_with_a_minimal_total():
    result = score(PHQ9, answers(0, 0, 0, 0, 0, 0, 0, 0, 1))
    assert (result.total, result.band, result.risk) == (1, "minimal", True)


@pytest.mark.parametrize(
    ("values", "total", "band"),
    [
        ((0, 0, 0, 0, 0, 0, 0, 0, 0), 0, "minimal"),
        ((1, 1, 1, 1, 0, 0, 0, 0, 0), 4, "minimal"),
        ((1, 1, 1, 1, 1, 0, 0, 0, 0), 5, "mild"),
        ((2, 2, 2, 2, 2, 0, 0, 0, 0), 10, "moderate"),
        ((2, 2, 2, 2, 2, 2, 2, 0, 0), 14, "moderate"),
        ((3, 3, 3, 3, 3, 0, 0, 0, 0), 15, "moderately_severe"),
        ((3, 3, 3, 3, 3, 2, 2, 0, 0), 19, "moderately_severe"),
        ((3, 3, 3, 3, 3, 3, 2, 0, 0), 20, "severe"),
        ((3, 3, 3, 3, 3, 3, 3, 3, 3), 27, "severe"),
    ],
)
def test_phq9_totals_fall_in_the_published_bands(values, total, band):
    result = score(PHQ9, answers(*values))
    assert (result.total, result.band) == (total, band)


def test_gad7_answers_summing_to_15_are_severe():
    result = score(GAD7, answers(3, 3, 3, 2, 2, 1, 1))
    assert (result.total, result.band, result.band_label) == (15, "severe", "Severe")
    assert result.risk is False


@pytest.mark.parametrize(
    ("values", "total", "band"),
    [
        ((0, 0, 0, 0, 0, 0, 0), 0, "minimal"),
        ((1, 1, 1, 1, 0, 0, 0), 4, "minimal"),
        ((1, 1, 1, 1, 1, 0, 0), 5, "mild"),
        ((2, 2, 2, 2, 1, 0, 0), 9, "mild"),
        ((2, 2, 2, 2, 2, 0, 0), 10, "moderate"),
        ((2, 2, 2, 2, 2, 2, 2), 14, "moderate"),
        ((3, 3, 3, 3, 3, 3, 3), 21, "severe"),
    ],
)
def test_gad7_totals_fall_in_the_published_bands(values, total, band):
    result = score(GAD7, answers(*values))
    assert (result.total, result.band) == (total, band)


def test_a_skipped_item_leaves_total_and_band_null_and_is_listed():
    responses = answers(1, 1, 1, 1, 1, 1, 1, 1, 0)
    del responses["item_4"]
    result = score_responses(PHQ9, responses)
    assert result == Score(
        total=None,
        band=None,
        band_label=None,
        risk=False,
        risk_flags=[],
        missing_items=["item_4"],
        complete=False,
    )


def test_a_null_item_counts_as_skipped():
    result = score_responses(GAD7, {**answers(1, 1, 1, 1, 1, 1, 1), "item_2": None})
    assert result is not None
    assert (result.total, result.missing_items) == (None, ["item_2"])


def test_risk_rules_apply_to_an_incomplete_form():
    responses = {"item_9": 3}
    result = score_responses(PHQ9, responses)
    assert result is not None
    assert (result.total, result.risk, result.risk_flags) == (None, True, ["self_harm"])
    assert result.missing_items == [f"item_{n}" for n in range(1, 9)]


def test_the_optional_difficulty_question_is_not_scored():
    without = score(PHQ9, answers(2, 1, 0, 0, 0, 0, 0, 0, 0))
    with_it = score(PHQ9, {**answers(2, 1, 0, 0, 0, 0, 0, 0, 0), "difficulty": 3})
    assert without == with_it
    assert with_it.total == 3


def test_a_template_without_scoring_has_no_score():
    thought_record = get_builtin("thought-record")
    assert score_responses(thought_record.definition, thought_record.realistic_example) is None


def test_number_scale_percent_and_choice_items_add_up():
    definition = TemplateDefinition.model_validate(
        {
            "kind": "measure",
            "title": "Mixed",
            "fields": [
                {"type": "scale", "key": "mood", "label": "Mood"},
                {"type": "percent", "key": "belief", "label": "Belief"},
                {"type": "number", "key": "count", "label": "Count", "min": 0, "max": 5, "step": 1},
                {
                    "type": "single_choice",
                    "key": "often",
                    "label": "Often",
                    "options": [{"value": 0, "label": "Never"}, {"value": 2, "label": "Often"}],
                },
            ],
            "scoring": {
                "items": ["mood", "belief", "count", "often"],
                # 0-10 + 0-100 + 0-5 + 0-2: totals 0-117.
                "bands": [
                    {"min": 0, "max": 58, "label": "Lower", "code": "lower"},
                    {"min": 59, "max": 117, "label": "Upper", "code": "upper"},
                ],
                "risk_rules": [
                    {"item": "mood", "threshold": 9, "flag": "check_in"},
                    {"item": "often", "threshold": 2, "flag": "check_in"},
                ],
            },
        }
    )
    result = score(definition, {"mood": 9, "belief": 40, "count": 3, "often": 2})
    assert (result.total, result.band) == (54, "lower")
    assert result.risk_flags == ["check_in"]


def test_a_score_serializes_with_every_documented_member():
    dumped = score(GAD7, answers(0, 0, 0, 0, 0, 0, 0)).model_dump(mode="json")
    assert dumped == {
        "total": 0,
        "band": "minimal",
        "band_label": "Minimal",
        "risk": False,
        "risk_flags": [],
        "missing_items": [],
        "complete": True,
    }
