"""Template definitions: sound ones pass, unsound ones are refused with a loc naming the problem."""

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from app.templates.definitions import TemplateDefinition, check_definition


def definition(fields=None, scoring=None, **extra):
    data = {
        "kind": "cbt_worksheet",
        "title": "Check-in",
        "fields": fields
        if fields is not None
        else [
            {"type": "scale", "key": "mood", "label": "Mood"},
            {"type": "percent", "key": "belief", "label": "Belief"},
            {"type": "text", "key": "note", "label": "Note"},
        ],
        **extra,
    }
    if scoring is not None:
        data["scoring"] = scoring
    return data


def choice(key="where", values=("home", "work"), type_="single_choice", **extra):
    return {
        "type": type_,
        "key": key,
        "label": "Pick",
        "options": [{"value": v, "label": f"Option {v}"} for v in values],
        **extra,
    }


def only_error(data):
    errors = check_definition(data)
    assert len(errors) == 1, errors
    return errors[0]


def test_a_minimal_definition_is_accepted_with_defaults():
    assert check_definition(definition()) == []
    parsed = TemplateDefinition.model_validate(definition())
    note = parsed.fields[2]
    assert (note.required, note.max_length, parsed.estimated_minutes) == (False, 500, 10)


def test_serialized_definitions_validate_back_to_the_same_definition():
    parsed = TemplateDefinition.model_validate(definition())
    again = TemplateDefinition.model_validate_json(parsed.model_dump_json())
    assert again == parsed
    assert next(iter(parsed.model_dump()["fields"][0])) == "type"


def test_unknown_properties_are_rejected():
    fields = [{"type": "text", "key": "note", "label": "Note", "colour": "red"}]
    error = only_error(definition(fields))
    assert (error["loc"], error["type"]) == (["body", "fields", 0, "colour"], "extra_forbidden")


def test_field_errors_name_the_field_without_pydantics_type_tag():
    fields = [{"type": "text", "key": "note", "label": "x" * 301}]
    assert only_error(definition(fields))["loc"] == ["body", "fields", 0, "label"]


def test_an_unknown_field_type_is_rejected_at_the_field():
    error = only_error(definition([{"type": "slider", "key": "mood", "label": "Mood"}]))
    assert (error["loc"], error["type"]) == (["body", "fields", 0], "union_tag_invalid")


@pytest.mark.parametrize("key", ["Mood", "1st", "mood-score", "", "a" * 64])
def test_keys_must_be_short_snake_case_identifiers(key):
    error = only_error(definition([{"type": "text", "key": key, "label": "Note"}]))
    assert error["loc"] == ["body", "fields", 0, "key"]


def test_duplicate_keys_are_rejected_at_the_second_field():
    fields = [
        {"type": "text", "key": "note", "label": "Note"},
        {"type": "long_text", "key": "note", "label": "More"},
    ]
    error = only_error(definition(fields))
    assert (error["loc"], error["type"]) == (["body", "fields", 1, "key"], "duplicate_key")


def test_a_group_sub_field_may_not_reuse_any_other_key():
    fields = [
        {"type": "text", "key": "emotion", "label": "Main emotion"},
        {
            "type": "group",
            "key": "emotions",
            "label": "Emotions",
            "fields": [
                {"type": "text", "key": "emotion", "label": "Emotion"},
                {"type": "percent", "key": "intensity", "label": "Intensity"},
                {"type": "percent", "key": "intensity", "label": "Again"},
            ],
        },
    ]
    errors = check_definition(definition(fields))
    assert [(e["loc"], e["type"]) for e in errors] == [
        (["body", "fields", 1, "fields", 0, "key"], "duplicate_key"),
        (["body", "fields", 1, "fields", 2, "key"], "duplicate_key"),
    ]


def test_empty_options_are_rejected_at_the_options_list():
    error = only_error(definition([choice(values=())]))
    assert (error["loc"], error["type"]) == (["body", "fields", 0, "options"], "too_short")


def test_duplicate_option_values_are_rejected_at_the_repeat():
    error = only_error(definition([choice(values=("home", "work", "home"))]))
    assert error["loc"] == ["body", "fields", 0, "options", 2, "value"]
    assert error["type"] == "duplicate_option"


@pytest.mark.parametrize("value", [1.5, True, "Home", None, 1001])
def test_an_option_value_is_a_small_integer_or_a_code(value):
    error = only_error(definition([choice(values=(value,))]))
    assert error["loc"] == ["body", "fields", 0, "options", 0, "value"]
    assert error["type"] == "option_value"


def test_options_mixing_integers_and_strings_are_rejected():
    error = only_error(definition([choice(values=(0, "1"))]))
    assert (error["loc"], error["type"]) == (["body", "fields", 0, "options"], "mixed_option_types")


@pytest.mark.parametrize(("low", "high"), [(10, 0), (5, 5)])
def test_a_scale_needs_min_below_max(low, high):
    fields = [{"type": "scale", "key": "mood", "label": "Mood", "min": low, "max": high}]
    error = only_error(definition(fields))
    assert (error["loc"], error["type"]) == (["body", "fields", 0, "max"], "invalid_range")


def test_a_number_needs_min_below_max():
    fields = [{"type": "number", "key": "hours", "label": "Hours", "min": 24, "max": 0}]
    assert only_error(definition(fields))["loc"] == ["body", "fields", 0, "max"]


@pytest.mark.parametrize("step", [0, -1])
def test_a_number_step_must_be_positive(step):
    fields = [{"type": "number", "key": "hours", "label": "Hours", "step": step}]
    error = only_error(definition(fields))
    assert (error["loc"], error["type"]) == (["body", "fields", 0, "step"], "greater_than")


def test_group_min_items_may_not_exceed_max_items():
    group = {
        "type": "group",
        "key": "emotions",
        "label": "Emotions",
        "min_items": 5,
        "max_items": 2,
        "fields": [{"type": "text", "key": "emotion", "label": "Emotion"}],
    }
    error = only_error(definition([group]))
    assert (error["loc"], error["type"]) == (["body", "fields", 0, "min_items"], "invalid_range")


def test_group_max_items_is_capped_at_fifty():
    group = {
        "type": "group",
        "key": "emotions",
        "label": "Emotions",
        "max_items": 51,
        "fields": [{"type": "text", "key": "emotion", "label": "Emotion"}],
    }
    assert only_error(definition([group]))["loc"] == ["body", "fields", 0, "max_items"]


def test_groups_do_not_nest():
    inner = {
        "type": "group",
        "key": "inner",
        "label": "Inner",
        "fields": [{"type": "text", "key": "x", "label": "X"}],
    }
    outer = {"type": "group", "key": "outer", "label": "Outer", "fields": [inner]}
    error = only_error(definition([outer]))
    assert (error["loc"], error["type"]) == (
        ["body", "fields", 0, "fields", 0],
        "union_tag_invalid",
    )


def test_multi_choice_selection_limits_must_fit_the_options():
    field = choice(type_="multi_choice", values=("a", "b"), min_selected=2, max_selected=1)
    errors = check_definition(definition([field]))
    assert ["body", "fields", 0, "min_selected"] in [e["loc"] for e in errors]
    too_many = choice(type_="multi_choice", values=("a", "b"), max_selected=3)
    error = only_error(definition([too_many]))
    assert (error["loc"], error["type"]) == (
        ["body", "fields", 0, "max_selected"],
        "greater_than_options",
    )


@pytest.mark.parametrize("flag", ["yes", 1, "true"])
def test_the_required_flag_must_be_a_real_boolean(flag):
    error = only_error(definition([{"type": "text", "key": "n", "label": "N", "required": flag}]))
    assert (error["loc"], error["type"]) == (["body", "fields", 0, "required"], "bool_type")


def test_text_lengths_are_bounded():
    fields = [{"type": "text", "key": "n", "label": "N", "max_length": 2001}]
    assert only_error(definition(fields))["loc"] == ["body", "fields", 0, "max_length"]


def test_scoring_over_a_text_field_is_rejected_at_the_item():
    error = only_error(definition(scoring={"items": ["mood", "note"]}))
    assert (error["loc"], error["type"]) == (["body", "scoring", "items", 1], "not_scoreable")


def test_scoring_a_key_that_does_not_exist_is_rejected_at_the_item():
    error = only_error(definition(scoring={"items": ["mood", "energy"]}))
    assert (error["loc"], error["type"]) == (["body", "scoring", "items", 1], "unknown_item")


def test_scoring_over_string_valued_choices_is_rejected():
    error = only_error(definition([choice()], scoring={"items": ["where"]}))
    assert error["loc"] == ["body", "scoring", "items", 0]


def test_a_scored_number_needs_whole_bounds_and_step():
    loose = {"type": "number", "key": "hours", "label": "Hours", "min": 0, "max": 24}
    assert only_error(definition([loose], scoring={"items": ["hours"]}))["type"] == "not_scoreable"
    fractional = {**loose, "step": 0.5}
    assert only_error(definition([fractional], scoring={"items": ["hours"]}))["type"] == (
        "not_scoreable"
    )
    assert check_definition(definition([{**loose, "step": 1}], scoring={"items": ["hours"]})) == []


def bands(*ranges):
    return [
        {"min": lo, "max": hi, "label": f"Band {i}", "code": f"b{i}"}
        for i, (lo, hi) in enumerate(ranges)
    ]


def test_bands_tiling_the_possible_totals_are_accepted():
    # mood 0-10 plus belief 0-100: totals run from 0 to 110.
    scoring = {"items": ["mood", "belief"], "bands": bands((0, 50), (51, 110))}
    assert check_definition(definition(scoring=scoring)) == []


def test_gapped_bands_are_rejected_at_the_band_after_the_gap():
    scoring = {"items": ["mood", "belief"], "bands": bands((0, 50), (52, 110))}
    error = only_error(definition(scoring=scoring))
    assert (error["loc"], error["type"]) == (["body", "scoring", "bands", 1, "min"], "bands_gap")


def test_overlapping_bands_are_rejected():
    scoring = {"items": ["mood", "belief"], "bands": bands((0, 50), (50, 110))}
    error = only_error(definition(scoring=scoring))
    assert (error["loc"], error["type"]) == (
        ["body", "scoring", "bands", 1, "min"],
        "bands_overlap",
    )


def test_bands_must_reach_both_ends_of_the_possible_totals():
    scoring = {"items": ["mood", "belief"], "bands": bands((1, 50), (51, 100))}
    errors = check_definition(definition(scoring=scoring))
    assert [(e["loc"], e["type"]) for e in errors] == [
        (["body", "scoring", "bands", 0, "min"], "bands_gap"),
        (["body", "scoring", "bands", 1, "max"], "bands_gap"),
    ]


def test_bands_beyond_the_possible_totals_are_rejected():
    scoring = {"items": ["mood", "belief"], "bands": bands((0, 50), (51, 200))}
    assert only_error(definition(scoring=scoring))["type"] == "bands_out_of_range"


def test_a_band_with_max_below_min_is_rejected():
    scoring = {"items": ["mood"], "bands": bands((0, 5), (7, 6))}
    assert ["body", "scoring", "bands", 1, "max"] in [
        e["loc"] for e in check_definition(definition(scoring=scoring))
    ]


def test_a_risk_rule_must_name_a_scoreable_field():
    rule = {"item": "note", "threshold": 1, "flag": "self_harm"}
    error = only_error(definition(scoring={"items": ["mood"], "risk_rules": [rule]}))
    assert error["loc"] == ["body", "scoring", "risk_rules", 0, "item"]


@pytest.mark.parametrize("threshold", [0, 11])
def test_a_risk_rule_that_always_or_never_fires_is_rejected(threshold):
    rule = {"item": "mood", "threshold": threshold, "flag": "low_mood"}
    error = only_error(definition(scoring={"items": ["mood"], "risk_rules": [rule]}))
    assert error["loc"] == ["body", "scoring", "risk_rules", 0, "threshold"]


def test_model_validation_reports_every_cross_field_problem_at_once():
    fields = [
        {"type": "text", "key": "note", "label": "Note"},
        {"type": "text", "key": "note", "label": "Again"},
    ]
    with pytest.raises(ValidationError) as raised:
        TemplateDefinition.model_validate(definition(fields, scoring={"items": ["mood"]}))
    assert [e["loc"] for e in raised.value.errors()] == [
        ("fields", 1, "key"),
        ("scoring", "items", 0),
    ]


def test_check_definition_takes_a_model_and_a_loc_prefix():
    parsed = TemplateDefinition.model_validate(definition())
    assert check_definition(parsed) == []
    nested = check_definition(definition(fields=[]), loc_prefix=("body", "definition"))
    assert nested[0]["loc"] == ["body", "definition", "fields"]


async def test_a_route_answers_422_with_the_loc_of_the_problem():
    app = FastAPI()

    @app.post("/definitions")
    async def create(body: TemplateDefinition) -> dict[str, str]:
        return {"title": body.title}

    bad = definition([choice(values=("home", "home"))])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        refused = await client.post("/definitions", json=bad)
        accepted = await client.post("/definitions", json=definition())
    assert refused.status_code == 422
    assert [e["loc"] for e in refused.json()["detail"]] == [
        ["body", "fields", 0, "options", 1, "value"]
    ]
    assert accepted.status_code == 200
