"""The built-in library: sound definitions, real examples, published measure wording, stable keys."""

import copy
import json

import pytest

from app.templates.definitions import TemplateDefinition, check_definition
from app.templates.library import BUILTIN_SLUGS, builtin_templates, get_builtin
from app.templates.scoring import score_responses
from app.templates.validation import validate_responses

KEYS = {
    "thought-record": [
        "situation",
        "automatic_thoughts",
        "emotions",
        "evidence_for",
        "evidence_against",
        "balanced_thought",
        "intensity_after",
    ],
    "cognitive-distortions": ["thought", "distortions", "reframe"],
    "activity-log": ["activity", "started_at", "duration_minutes", "mastery", "pleasure", "mood"],
    "reflective-journal": ["prompt", "entry", "noticed_about_myself"],
    "gratitude-journal": ["good_things"],
    "mindfulness-practice": ["practice_type", "minutes", "noticed", "feeling_now"],
    "breathing-exercise": ["technique", "rounds", "calm_before", "calm_after"],
    "body-scan": ["minutes", "tension_areas", "tension_notes", "calm_before", "calm_after"],
    "phq-9": [f"item_{n}" for n in range(1, 10)] + ["difficulty"],
    "gad-7": [f"item_{n}" for n in range(1, 8)],
}
KINDS = {
    "thought-record": "cbt_worksheet",
    "cognitive-distortions": "cbt_worksheet",
    "activity-log": "behavioral",
    "reflective-journal": "journal",
    "gratitude-journal": "journal",
    "mindfulness-practice": "mindfulness",
    "breathing-exercise": "mindfulness",
    "body-scan": "mindfulness",
    "phq-9": "measure",
    "gad-7": "measure",
}


def set_in(responses, path, value):
    target = responses
    for step in path[:-1]:
        target = target[step]
    if value is DROP:
        del target[path[-1]]
    else:
        target[path[-1]] = value


DROP = object()
# One realistic mistake per template: (path to change, new value, expected error type).
BROKEN = {
    "thought-record": (["emotions", 1, "intensity"], 130, "greater_than_max"),
    "cognitive-distortions": (["distortions", 1], "catastrophizing", "invalid_choice"),
    "activity-log": (["started_at"], "5:30pm", "time_format"),
    "reflective-journal": (["entry"], DROP, "missing"),
    "gratitude-journal": (["good_things", 2], DROP, "too_few_items"),
    "mindfulness-practice": (["minutes"], 1500, "greater_than_max"),
    "breathing-exercise": (["rounds"], 2.5, "not_a_multiple_of_step"),
    "body-scan": (["calm_after"], "7", "int_type"),
    "phq-9": (["item_9"], True, "int_type"),
    "gad-7": (["item_3"], 4, "invalid_choice"),
}
BROKEN_LOC = {"gratitude-journal": ["good_things"]}


def test_the_library_lists_every_slug_once_in_order():
    assert [t.slug for t in builtin_templates()] == list(BUILTIN_SLUGS)
    assert sorted(BUILTIN_SLUGS) == sorted(KEYS)


@pytest.mark.parametrize("slug", BUILTIN_SLUGS)
def test_every_builtin_passes_the_definition_checks(slug):
    definition = get_builtin(slug).definition
    as_json = json.loads(definition.model_dump_json())
    assert check_definition(as_json) == []
    assert check_definition(definition) == []
    assert TemplateDefinition.model_validate(as_json) == definition


@pytest.mark.parametrize("slug", BUILTIN_SLUGS)
def test_every_builtin_has_its_kind_and_stable_field_keys(slug):
    definition = get_builtin(slug).definition
    assert definition.kind == KINDS[slug]
    assert [f.key for f in definition.fields] == KEYS[slug]


@pytest.mark.parametrize("slug", BUILTIN_SLUGS)
def test_every_builtin_accepts_its_realistic_example(slug):
    template = get_builtin(slug)
    sent = json.loads(json.dumps(template.realistic_example))
    clean, errors = validate_responses(template.definition, sent)
    assert errors == []
    assert clean == template.realistic_example


@pytest.mark.parametrize("slug", BUILTIN_SLUGS)
def test_every_builtin_rejects_a_broken_example_at_the_right_place(slug):
    template = get_builtin(slug)
    path, value, type_ = BROKEN[slug]
    responses = copy.deepcopy(template.realistic_example)
    set_in(responses, path, value)
    _, errors = validate_responses(template.definition, responses)
    loc = ["body", "responses", *BROKEN_LOC.get(slug, path)]
    assert [(e["loc"], e["type"]) for e in errors] == [(loc, type_)]


@pytest.mark.parametrize("slug", BUILTIN_SLUGS)
def test_every_builtin_requires_something(slug):
    template = get_builtin(slug)
    required = [f.key for f in template.definition.fields if f.required]
    assert required
    _, errors = validate_responses(template.definition, {})
    assert [e["loc"][-1] for e in errors] == required


@pytest.mark.parametrize("slug", BUILTIN_SLUGS)
def test_instructions_say_why_how_how_long_and_what_if_it_is_hard(slug):
    definition = get_builtin(slug).definition
    for heading in ("## Why this helps", "## How to do it", "## How long it takes"):
        assert heading in definition.instructions
    assert "## If it feels too hard" in definition.instructions
    assert 1 <= definition.estimated_minutes <= 20


@pytest.mark.parametrize("slug", BUILTIN_SLUGS)
def test_editing_only_labels_keeps_old_answers_valid_and_scores_identical(slug):
    template = get_builtin(slug)
    edited = template.definition.model_dump(mode="json")
    edited["title"] += " (revised)"
    edited["description"] = "Reworded by the therapist."
    edited["instructions"] = "Take your time."
    for field in edited["fields"] + [s for f in edited["fields"] for s in f.get("fields", [])]:
        field["label"] = "Reworded: " + field["label"][:200]
        field["help"] = "New help text."
        for option in field.get("options", []):
            option["label"] = option["label"].upper()
    relabelled = TemplateDefinition.model_validate(edited)
    assert relabelled != template.definition

    before = validate_responses(template.definition, template.realistic_example)
    after = validate_responses(relabelled, template.realistic_example)
    assert after == before == (template.realistic_example, [])
    assert score_responses(relabelled, after[0]) == score_responses(template.definition, before[0])


def test_builtin_templates_are_fresh_copies():
    first = builtin_templates()[0]
    first.realistic_example["situation"] = "changed"
    assert builtin_templates()[0].realistic_example["situation"] != "changed"


def test_an_unknown_slug_is_a_key_error():
    with pytest.raises(KeyError):
        get_builtin("beck-depression-inventory")


def test_thought_record_rates_each_emotion_as_a_percentage():
    emotions = get_builtin("thought-record").definition.fields[2]
    assert (emotions.type, emotions.min_items, emotions.max_items) == ("group", 1, 10)
    assert [(f.key, f.type) for f in emotions.fields] == [
        ("emotion", "text"),
        ("intensity", "percent"),
    ]


def test_cognitive_distortions_offers_exactly_the_twelve_traps():
    distortions = get_builtin("cognitive-distortions").definition.fields[1]
    assert distortions.type == "multi_choice"
    assert [o.value for o in distortions.options] == [
        "all_or_nothing_thinking",
        "overgeneralization",
        "mental_filter",
        "discounting_the_positive",
        "mind_reading",
        "fortune_telling",
        "magnification_minimization",
        "emotional_reasoning",
        "should_statements",
        "labeling",
        "personalization",
        "blaming",
    ]


def test_gratitude_journal_asks_for_exactly_three_good_things():
    group = get_builtin("gratitude-journal").definition.fields[0]
    assert (group.type, group.min_items, group.max_items, group.required) == ("group", 3, 3, True)


FREQUENCY = [
    (0, "Not at all"),
    (1, "Several days"),
    (2, "More than half the days"),
    (3, "Nearly every day"),
]
PHQ9_PUBLISHED = [
    "Little interest or pleasure in doing things",
    "Feeling down, depressed, or hopeless",
    "Trouble falling or staying asleep, or sleeping too much",
    "Feeling tired or having little energy",
    "Poor appetite or overeating",
    "Feeling bad about yourself — or that you are a failure or have let yourself or your "
    "family down",
    "Trouble concentrating on things, such as reading the newspaper or watching television",
    "Moving or speaking so slowly that other people could have noticed? Or the opposite — being "
    "so fidgety or restless that you have been moving around a lot more than usual",
    "Thoughts that you would be better off dead or of hurting yourself in some way",
]
GAD7_PUBLISHED = [
    "Feeling nervous, anxious, or on edge",
    "Not being able to stop or control worrying",
    "Worrying too much about different things",
    "Trouble relaxing",
    "Being so restless that it is hard to sit still",
    "Becoming easily annoyed or irritable",
    "Feeling afraid, as if something awful might happen",
]


@pytest.mark.parametrize(
    ("slug", "stem", "items"),
    [
        (
            "phq-9",
            "Over the last 2 weeks, how often have you been bothered by any of the following "
            "problems?",
            PHQ9_PUBLISHED,
        ),
        (
            "gad-7",
            "Over the last 2 weeks, how often have you been bothered by the following problems?",
            GAD7_PUBLISHED,
        ),
    ],
)
def test_measures_use_the_published_wording_and_answers(slug, stem, items):
    definition = get_builtin(slug).definition
    assert stem in definition.instructions
    scored = definition.fields[: len(items)]
    assert [f.label for f in scored] == items
    for field in scored:
        assert field.type == "single_choice" and field.required
        assert [(o.value, o.label) for o in field.options] == FREQUENCY


def test_phq9_carries_the_optional_difficulty_question_unscored():
    definition = get_builtin("phq-9").definition
    difficulty = definition.fields[-1]
    assert difficulty.label == (
        "If you checked off any problems, how difficult have these problems made it for you to "
        "do your work, take care of things at home, or get along with other people?"
    )
    assert [o.label for o in difficulty.options] == [
        "Not difficult at all",
        "Somewhat difficult",
        "Very difficult",
        "Extremely difficult",
    ]
    assert not difficulty.required
    assert "difficulty" not in definition.scoring.items


@pytest.mark.parametrize(
    ("slug", "bands", "risk_rules"),
    [
        (
            "phq-9",
            [
                (0, 4, "minimal"),
                (5, 9, "mild"),
                (10, 14, "moderate"),
                (15, 19, "moderately_severe"),
                (20, 27, "severe"),
            ],
            [("item_9", 1, "self_harm")],
        ),
        (
            "gad-7",
            [(0, 4, "minimal"), (5, 9, "mild"), (10, 14, "moderate"), (15, 21, "severe")],
            [],
        ),
    ],
)
def test_measures_are_scored_by_sum_with_the_published_cut_offs(slug, bands, risk_rules):
    scoring = get_builtin(slug).definition.scoring
    assert scoring.method == "sum"
    assert [(b.min, b.max, b.code) for b in scoring.bands] == bands
    assert [(r.item, r.threshold, r.flag) for r in scoring.risk_rules] == risk_rules
