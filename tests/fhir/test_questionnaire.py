"""FHIR export of forms and answers: Questionnaires from template versions, typed responses,
adherence figures, `since` filtering, and the errors a caller can run into."""

from datetime import UTC, datetime

import pytest
from fhir.resources.R4B import get_fhir_model_class

from app.fhir.mapping import (
    InvalidFhirResource,
    MissingTemplateVersion,
    everything_bundle,
    questionnaire,
)
from app.fhir.timing import timing
from app.fhir.validation import validate_resource
from tests.fhir.fhir_checks import all_items, one, resources, validated
from tests.fhir.record import (
    BASE_URL,
    CLIENT_ID,
    GOAL_RUNNING,
    GOAL_SLEEP,
    NEW,
    SPLIT,
    TEMPLATE_IDS,
    cid,
    record,
    template_version,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
ORDINAL = "http://hl7.org/fhir/StructureDefinition/ordinalValue"


def items_by_link_id(resource: dict) -> dict[str, dict]:
    return {item["linkId"]: item for item in all_items(resource.get("item", []))}


def response_items(response: dict) -> dict[str, list]:
    """linkId -> answers, for the top-level items of a QuestionnaireResponse."""
    return {item["linkId"]: item.get("answer") for item in response.get("item", [])}


def test_questionnaire_alone_validates_and_names_the_template_version():
    form = questionnaire(template_version("phq-9"), BASE_URL)

    validated(form)
    assert form["url"] == f"{BASE_URL}/Questionnaire/{TEMPLATE_IDS['phq-9']}"
    assert (form["version"], form["status"], form["title"]) == ("1", "active", "PHQ-9")
    assert form["id"] == f"{TEMPLATE_IDS['phq-9']}-v1"
    assert form["code"] == [{"system": "http://loinc.org", "code": "44249-1"}]


def test_questionnaire_alone_equals_the_bundle_entry():
    bundle = everything_bundle(record(), now=NOW)

    alone = questionnaire(template_version("thought-record"), BASE_URL)

    assert one(bundle, "Questionnaire", alone["id"]) == alone


def test_choice_options_become_codings_with_labels_and_integer_weights():
    items = items_by_link_id(questionnaire(template_version("phq-9"), BASE_URL))

    first = items["item_1"]["answerOption"][1]["valueCoding"]

    assert items["item_1"]["type"] == "choice"
    assert items["item_1"]["required"] is True
    assert (first["code"], first["display"]) == ("1", "Several days")
    assert first["extension"] == [{"url": ORDINAL, "valueDecimal": 1}]
    assert items["difficulty"]["required"] is False


def test_field_types_map_to_questionnaire_item_types():
    types = {}
    for slug in ("thought-record", "cognitive-distortions", "activity-log"):
        form = questionnaire(template_version(slug), BASE_URL)
        types |= {k: v["type"] for k, v in items_by_link_id(form).items() if "-" not in k}

    assert types == {
        "situation": "text",
        "automatic_thoughts": "text",
        "emotions": "group",
        "emotion": "string",
        "intensity": "integer",
        "evidence_for": "text",
        "evidence_against": "text",
        "balanced_thought": "text",
        "intensity_after": "integer",
        "thought": "text",
        "distortions": "choice",
        "reframe": "text",
        "activity": "string",
        "started_at": "time",
        "duration_minutes": "integer",
        "mastery": "integer",
        "pleasure": "integer",
        "mood": "integer",
    }


def test_group_and_multi_choice_items_repeat_with_their_limits():
    thought = items_by_link_id(questionnaire(template_version("thought-record"), BASE_URL))
    traps = items_by_link_id(questionnaire(template_version("cognitive-distortions"), BASE_URL))

    emotions, distortions = thought["emotions"], traps["distortions"]

    assert emotions["repeats"] is True
    assert [i["linkId"] for i in emotions["item"]] == ["emotion", "intensity"]
    assert distortions["repeats"] is True
    assert len(distortions["answerOption"]) == 12
    limits = {e["url"].rsplit("-", 1)[-1]: e["valueInteger"] for e in emotions["extension"]}
    assert limits == {"minOccurs": 1, "maxOccurs": 10}


def test_instructions_and_help_become_display_items():
    form = questionnaire(template_version("thought-record"), BASE_URL)
    items = items_by_link_id(form)

    assert form["item"][0]["linkId"] == "template-instructions"
    assert form["item"][0]["type"] == "display"
    assert form["item"][0]["text"].startswith("## Why this helps")
    assert items["situation-help"]["text"] == "Where were you, who was there, what happened?"
    assert items["situation-help"]["type"] == "display"


def test_response_link_ids_all_exist_in_its_questionnaire_version():
    bundle = everything_bundle(record(), now=NOW)
    forms = {f"{q['url']}|{q['version']}": q for q in resources(bundle, "Questionnaire")}

    checked = 0
    for response in resources(bundle, "QuestionnaireResponse"):
        known = items_by_link_id(forms[response["questionnaire"]])
        for item in all_items(response.get("item", [])):
            assert item["linkId"] in known, (response["id"], item["linkId"])
            checked += 1

    assert checked > 30


def test_response_answers_are_typed_like_their_items():
    bundle = everything_bundle(record(), now=NOW)

    activity = response_items(one(bundle, "QuestionnaireResponse", cid(7)))
    phq9 = response_items(one(bundle, "QuestionnaireResponse", cid(2)))

    assert activity["activity"] == [{"valueString": "Walked to the park with the dog"}]
    assert activity["started_at"] == [{"valueTime": "17:30:00"}]
    assert activity["duration_minutes"] == [{"valueInteger": 25}]
    assert activity["mastery"] == [{"valueInteger": 6}]
    assert phq9["item_2"] == [
        {
            "valueCoding": {
                "system": f"urn:homework-api:template:{TEMPLATE_IDS['phq-9']}:options:item_2",
                "code": "2",
                "display": "More than half the days",
            }
        }
    ]


def test_multi_choice_answer_becomes_one_answer_per_selection():
    response = one(everything_bundle(record(), now=NOW), "QuestionnaireResponse", cid(4))

    answers = response_items(response)["distortions"]

    assert [a["valueCoding"]["code"] for a in answers] == [
        "labeling",
        "mind_reading",
        "overgeneralization",
    ]
    assert answers[0]["valueCoding"]["display"] == "Labeling"


def test_group_answers_nest_one_item_per_entry():
    response = one(everything_bundle(record(), now=NOW), "QuestionnaireResponse", cid(3))

    entries = [i for i in response["item"] if i["linkId"] == "emotions"]

    assert len(entries) == 2
    assert all("answer" not in e for e in entries)
    assert [response_items(e) for e in entries] == [
        {"emotion": [{"valueString": "Anxious"}], "intensity": [{"valueInteger": 80}]},
        {"emotion": [{"valueString": "Ashamed"}], "intensity": [{"valueInteger": 55}]},
    ]


def test_done_response_is_completed_and_skipped_one_is_stopped():
    bundle = everything_bundle(record(), now=NOW)

    done, skipped = (one(bundle, "QuestionnaireResponse", cid(n)) for n in (3, 6))

    assert done["status"] == "completed"
    assert done["authored"] == NEW
    assert done["subject"] == {"reference": f"Patient/{CLIENT_ID}"}
    assert done["basedOn"] == [{"reference": f"CarePlan/{CLIENT_ID}"}]
    assert skipped["status"] == "stopped"
    assert "item" not in skipped


def test_adherence_becomes_a_percent_observation_with_counts_and_skips_empty_periods():
    bundle = everything_bundle(record(), now=NOW)

    adherence = [
        o for o in resources(bundle, "Observation") if o["code"].get("text") == "Homework adherence"
    ]

    assert len(adherence) == 1
    (observation,) = adherence
    assert observation["effectivePeriod"] == {"start": "2026-11-02", "end": "2026-11-08"}
    assert observation["valueQuantity"] == {
        "value": 75.0,
        "unit": "%",
        "system": "http://unitsofmeasure.org",
        "code": "%",
    }
    assert [(c["code"]["text"], c["valueInteger"]) for c in observation["component"]] == [
        ("Scheduled occurrences", 8),
        ("Completed occurrences", 6),
    ]


def test_adherence_observation_id_is_stable_across_exports():
    first = everything_bundle(record(), now=NOW)
    second = everything_bundle(record(), now=datetime(2027, 1, 1, tzinfo=UTC))

    def ids(bundle):
        return [o["id"] for o in resources(bundle, "Observation")]

    assert ids(first) == ids(second)


def test_since_keeps_only_resources_changed_at_or_after_it_and_always_the_patient():
    bundle = everything_bundle(record(since=SPLIT), now=NOW)

    kept = {(e["resource"]["resourceType"], e["resource"]["id"]) for e in bundle["entry"]}

    assert ("Patient", CLIENT_ID) in kept
    assert ("Goal", GOAL_RUNNING) in kept and ("Goal", GOAL_SLEEP) not in kept
    assert {i for t, i in kept if t == "QuestionnaireResponse"} == {cid(2), cid(3), cid(4), cid(6)}
    assert {i for t, i in kept if t == "Observation" and i.startswith("0190")} == {cid(2)}
    # Only the thought record's second version was published after the split.
    assert {i for t, i in kept if t == "Questionnaire"} == {f"{TEMPLATE_IDS['thought-record']}-v2"}
    # New completions add outcomes to the plan, so it changed too.
    assert ("CarePlan", CLIENT_ID) in kept
    for entry in bundle["entry"]:
        validated(entry["resource"])


def test_since_after_every_change_leaves_the_patient_and_undated_context():
    bundle = everything_bundle(record(since="2027-01-01T00:00:00+00:00"), now=NOW)

    kinds = sorted({e["resource"]["resourceType"] for e in bundle["entry"]})

    assert kinds == ["Observation", "Organization", "Patient", "Practitioner"]
    assert [o["code"]["text"] for o in resources(bundle, "Observation")] == ["Homework adherence"]


def test_count_counts_repetitions_so_it_multiplies_by_times_per_date():
    result = timing(
        {
            "start_date": "2026-11-02",
            "end_date": None,
            "count": 3,
            "rrule": "FREQ=DAILY",
            "times": ["08:00", "20:00"],
            "timezone": "Europe/Berlin",
        }
    )

    assert result["repeat"]["count"] == 6
    assert result["repeat"]["frequency"] == 2
    get_fhir_model_class("Timing").model_validate(result)


def test_missing_pinned_template_version_is_reported():
    data = record()
    data["template_versions"] = [
        tv for tv in data["template_versions"] if tv["template_id"] != TEMPLATE_IDS["gad-7"]
    ]

    with pytest.raises(MissingTemplateVersion) as caught:
        everything_bundle(data, now=NOW)

    assert caught.value.missing == [(TEMPLATE_IDS["gad-7"], 1)]


def test_an_id_that_is_not_a_fhir_id_is_refused():
    data = record()
    data["goals"][0]["id"] = "goal_1"

    with pytest.raises(ValueError, match="not a valid FHIR id"):
        everything_bundle(data, now=NOW)


def test_invalid_resource_error_names_the_element_but_not_the_value():
    with pytest.raises(InvalidFhirResource) as caught:
        validate_resource({"resourceType": "Patient", "id": "p1", "birthDate": "secret-value"})

    assert "birthDate" in str(caught.value)
    assert "secret-value" not in str(caught.value)
