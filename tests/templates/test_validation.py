"""Answers checked against a definition: strict types, limits, one error per problem, no echo."""

import pytest

from app.templates.definitions import TemplateDefinition
from app.templates.validation import validate_responses

DEFINITION = TemplateDefinition.model_validate(
    {
        "kind": "cbt_worksheet",
        "title": "Every field type",
        "fields": [
            {"type": "text", "key": "note", "label": "Note", "max_length": 10},
            {"type": "long_text", "key": "story", "label": "Story", "required": True},
            {"type": "number", "key": "hours", "label": "Hours", "min": 0, "max": 24, "step": 0.5},
            {"type": "number", "key": "dose", "label": "Dose", "step": 0.1},
            {"type": "scale", "key": "mood", "label": "Mood", "required": True},
            {"type": "percent", "key": "belief", "label": "Belief"},
            {
                "type": "single_choice",
                "key": "place",
                "label": "Where",
                "options": [{"value": "home", "label": "Home"}, {"value": "work", "label": "Work"}],
            },
            {
                "type": "single_choice",
                "key": "often",
                "label": "How often",
                "options": [{"value": n, "label": f"{n} days"} for n in range(4)],
            },
            {
                "type": "multi_choice",
                "key": "traps",
                "label": "Traps",
                "options": [{"value": v, "label": v} for v in ("a", "b", "c", "d")],
                "min_selected": 1,
                "max_selected": 3,
            },
            {"type": "boolean", "key": "shared", "label": "Shared"},
            {"type": "duration_minutes", "key": "minutes", "label": "Minutes"},
            {"type": "date", "key": "day", "label": "Day"},
            {"type": "time", "key": "at", "label": "At"},
            {
                "type": "group",
                "key": "emotions",
                "label": "Emotions",
                "required": True,
                "max_items": 3,
                "fields": [
                    {"type": "text", "key": "emotion", "label": "Emotion", "required": True},
                    {"type": "percent", "key": "intensity", "label": "How strong"},
                ],
            },
        ],
    }
)

VALID = {
    "note": "short",
    "story": "It rained all day.",
    "hours": 7.5,
    "dose": 0.3,
    "mood": 4,
    "belief": 60,
    "place": "work",
    "often": 2,
    "traps": ["a", "c"],
    "shared": False,
    "minutes": 20,
    "day": "2024-02-29",
    "at": "07:30",
    "emotions": [{"emotion": "sad", "intensity": 70}, {"emotion": "tired"}],
}
DROP = object()


def check(**changes):
    responses = {**VALID, **changes}
    return validate_responses(DEFINITION, {k: v for k, v in responses.items() if v is not DROP})


def problems(**changes):
    return [(e["loc"], e["type"]) for e in check(**changes)[1]]


def only(loc_tail, type_, **changes):
    assert problems(**changes) == [(["body", "responses", *loc_tail], type_)]


def test_a_complete_valid_answer_has_no_errors_and_comes_back_as_sent():
    clean, errors = check()
    assert errors == []
    assert clean == VALID


@pytest.mark.parametrize("responses", [[], "mood=4", None, 3])
def test_responses_that_are_not_an_object_are_one_error(responses):
    clean, errors = validate_responses(DEFINITION, responses)
    assert clean == {}
    assert [(e["loc"], e["type"]) for e in errors] == [(["body", "responses"], "object_type")]


def test_unknown_keys_are_reported_by_name():
    only(["energy"], "unknown_field", energy=3)


def test_every_missing_required_field_is_reported_once():
    assert problems(story=DROP, mood=DROP, emotions=DROP) == [
        (["body", "responses", "story"], "missing"),
        (["body", "responses", "mood"], "missing"),
        (["body", "responses", "emotions"], "missing"),
    ]


def test_null_for_an_optional_field_counts_as_unanswered():
    clean, errors = check(note=None, traps=None)
    assert errors == []
    assert "note" not in clean and "traps" not in clean


def test_null_for_a_required_field_is_missing():
    only(["mood"], "missing", mood=None)


def test_false_is_not_a_number():
    only(["hours"], "number_type", hours=False)


@pytest.mark.parametrize("value", ["3", [3], {"v": 3}, float("nan"), float("inf")])
def test_only_finite_json_numbers_are_numbers(value):
    only(["hours"], "number_type", hours=value)


@pytest.mark.parametrize("value", [1.5, 7.0, True, "4"])
def test_a_scale_point_is_a_whole_number_and_nothing_else(value):
    only(["mood"], "int_type", mood=value)


@pytest.mark.parametrize(("value", "type_"), [(-0.5, "less_than_min"), (24.5, "greater_than_max")])
def test_numbers_stay_within_min_and_max(value, type_):
    only(["hours"], type_, hours=value)


def test_numbers_must_fall_on_the_step():
    only(["hours"], "not_a_multiple_of_step", hours=7.25)
    only(["dose"], "not_a_multiple_of_step", dose=0.35)


def test_decimal_steps_tolerate_float_rounding():
    # 0.3 is stored as 0.29999999999999998890: it must still count as three steps of 0.1.
    assert check(dose=0.3)[1] == []
    assert check(dose=0.7, hours=24)[1] == []


@pytest.mark.parametrize(("value", "type_"), [(-1, "less_than_min"), (11, "greater_than_max")])
def test_scale_answers_stay_on_the_scale(value, type_):
    only(["mood"], type_, mood=value)


@pytest.mark.parametrize(
    ("value", "type_"),
    [(-1, "less_than_min"), (101, "greater_than_max"), (50.5, "int_type"), (False, "int_type")],
)
def test_a_percent_is_a_whole_number_from_0_to_100(value, type_):
    only(["belief"], type_, belief=value)


def test_a_duration_is_0_to_1440_whole_minutes():
    assert check(minutes=0)[1] == [] and check(minutes=1440)[1] == []
    only(["minutes"], "greater_than_max", minutes=1441)
    only(["minutes"], "less_than_min", minutes=-5)
    only(["minutes"], "int_type", minutes=12.5)


def test_an_unknown_choice_is_rejected():
    only(["place"], "invalid_choice", place="garden")
    only(["often"], "invalid_choice", often=4)


@pytest.mark.parametrize(
    ("key", "value", "type_"),
    [
        ("often", "1", "int_type"),
        ("often", True, "int_type"),
        ("often", 1.0, "int_type"),
        ("place", 1, "string_type"),
    ],
)
def test_choice_values_must_have_the_options_type(key, value, type_):
    only([key], type_, **{key: value})


def test_a_multi_choice_answer_is_a_list():
    only(["traps"], "list_type", traps="a")


def test_an_unknown_multi_choice_value_points_at_its_index():
    only(["traps", 1], "invalid_choice", traps=["a", "z"])


def test_a_repeated_multi_choice_value_points_at_the_repeat():
    only(["traps", 2], "duplicate_choice", traps=["a", "b", "a"])


def test_multi_choice_selection_counts_respect_the_limits():
    only(["traps"], "too_few_items", traps=[])
    only(["traps"], "too_many_items", traps=["a", "b", "c", "d"])


def test_text_over_its_max_length_is_too_long():
    assert check(note="x" * 10)[1] == []
    only(["note"], "too_long", note="x" * 11)


@pytest.mark.parametrize("value", [5, True, ["a"], {"text": "a"}])
def test_text_answers_must_be_strings(value):
    only(["note"], "string_type", note=value)


def test_required_text_cannot_be_blank():
    only(["story"], "missing", story="   \n")


@pytest.mark.parametrize("value", ["true", 1, 0, "yes"])
def test_booleans_must_be_real_booleans(value):
    only(["shared"], "bool_type", shared=value)


@pytest.mark.parametrize(
    "value",
    [
        "2026-02-30",
        "2026-2-3",
        "20260203",
        "2026-02-03T10:00",
        "03/02/2026",
        "\uff12\uff10\uff12\uff16-01-01",  # full-width digits match a naive \d
    ],
)
def test_dates_must_be_calendar_dates_as_yyyy_mm_dd(value):
    only(["day"], "date_format", day=value)


def test_a_date_must_be_a_string():
    only(["day"], "string_type", day=20260203)


@pytest.mark.parametrize("value", ["24:00", "7:30", "07:60", "07:30:00", "7.30pm"])
def test_times_must_be_24_hour_hh_mm(value):
    only(["at"], "time_format", at=value)


@pytest.mark.parametrize("value", ["00:00", "23:59"])
def test_the_whole_day_is_a_valid_time(value):
    assert check(at=value)[1] == []


def test_a_group_is_a_list_of_objects():
    only(["emotions"], "list_type", emotions={"emotion": "sad"})
    only(["emotions", 1], "object_type", emotions=[{"emotion": "sad"}, "angry"])


def test_a_required_group_needs_at_least_one_item():
    only(["emotions"], "too_few_items", emotions=[])


def test_a_group_holds_at_most_max_items():
    only(["emotions"], "too_many_items", emotions=[{"emotion": "sad"}] * 4)


def test_group_errors_point_at_the_item_index():
    only(
        ["emotions", 1, "intensity"],
        "greater_than_max",
        emotions=[{"emotion": "sad", "intensity": 70}, {"emotion": "angry", "intensity": 120}],
    )


def test_group_items_report_unknown_and_missing_sub_fields():
    assert problems(emotions=[{"feeling": "sad"}]) == [
        (["body", "responses", "emotions", 0, "feeling"], "unknown_field"),
        (["body", "responses", "emotions", 0, "emotion"], "missing"),
    ]


def test_every_problem_is_reported_in_one_pass():
    assert len(problems(note=1, hours="x", mood=99, place="garden", at="noon", extra=1)) == 6


def test_error_messages_never_contain_the_submitted_value():
    secret = "SECRET-PHI-4711"
    _, errors = check(
        note=secret * 3,
        hours=987654.25,
        mood=987654,
        place=secret,
        traps=[secret],
        day=secret,
        at=secret,
        emotions=[{"emotion": secret * 40}],
    )
    assert len(errors) == 8
    for error in errors:
        assert secret not in error["msg"] and "987654" not in error["msg"]


def test_a_caller_chooses_the_loc_prefix():
    _, errors = validate_responses(DEFINITION, {**VALID, "mood": 11}, loc_prefix=("responses",))
    assert errors[0]["loc"] == ["responses", "mood"]


def test_invalid_answers_stay_out_of_the_clean_responses():
    clean, errors = check(mood=11, note="fine")
    assert errors and "mood" not in clean and clean["note"] == "fine"
