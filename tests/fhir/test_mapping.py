"""FHIR export: a realistic record maps to a valid R4 collection Bundle that holds together.

Validity is checked twice: by parsing every resource with the fhir.resources R4B model for
its type, and by checking bound codes against the R4 value sets (which the library does not).
"""

import re
from datetime import UTC, datetime

from app.fhir.mapping import everything_bundle
from tests.fhir.fhir_checks import (
    ID_PATTERN,
    VALUE_SETS,
    coded_values,
    one,
    resources,
    validated,
    walk,
)
from tests.fhir.record import (
    BASE_URL,
    CLIENT_ID,
    GOAL_RUNNING,
    GOAL_SLEEP,
    TEMPLATE_IDS,
    cid,
    record,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
LOINC = "http://loinc.org"


def bundle_of(**overrides):
    return everything_bundle(record(**overrides), now=NOW)


def test_bundle_is_a_collection_and_validates_as_an_r4b_bundle():
    bundle = bundle_of()

    parsed = validated(bundle)

    assert parsed.type == "collection"
    assert bundle["timestamp"] == "2026-11-22T12:00:00+00:00"
    assert len(parsed.entry) == len(bundle["entry"]) == 23


def test_every_entry_validates_with_the_model_for_its_resource_type():
    bundle = bundle_of()

    types = {validated(e["resource"]).__class__.__name__ for e in bundle["entry"]}

    assert types == {
        "Patient",
        "Organization",
        "Practitioner",
        "CarePlan",
        "Goal",
        "Questionnaire",
        "QuestionnaireResponse",
        "Observation",
    }


def test_bound_codes_are_in_their_r4_value_sets():
    checked = list(coded_values(bundle_of()))

    bad = [(name, code) for name, code in checked if code not in VALUE_SETS[name]]

    assert bad == []
    # Every value set was actually exercised, so none of the checks above is vacuous.
    assert {name for name, _ in checked} == set(VALUE_SETS)


def test_ids_are_valid_and_full_urls_end_with_type_and_id():
    bundle = bundle_of()

    for entry in bundle["entry"]:
        resource = entry["resource"]
        assert re.fullmatch(ID_PATTERN, resource["id"])
        assert entry["fullUrl"] == f"{BASE_URL}/{resource['resourceType']}/{resource['id']}"
    assert len({e["fullUrl"] for e in bundle["entry"]}) == len(bundle["entry"])


def test_every_reference_resolves_to_an_entry_in_the_bundle():
    bundle = bundle_of()
    present = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"]}

    references = [node["reference"] for node in walk(bundle) if "reference" in node]

    assert len(references) > 40
    assert sorted(set(references) - present) == []


def test_every_questionnaire_canonical_resolves_to_a_questionnaire_version_in_the_bundle():
    bundle = bundle_of()
    versions = {f"{q['url']}|{q['version']}" for q in resources(bundle, "Questionnaire")}
    plan = resources(bundle, "CarePlan")[0]

    canonicals = [
        c for a in plan["activity"] for c in a["detail"].get("instantiatesCanonical", [])
    ] + [r["questionnaire"] for r in resources(bundle, "QuestionnaireResponse")]

    assert len(canonicals) == 5 + 7
    assert set(canonicals) <= versions
    phq9 = TEMPLATE_IDS["phq-9"]
    assert f"{BASE_URL}/Questionnaire/{phq9}|1" in canonicals


def test_patient_carries_identifiers_email_organization_and_last_update():
    patient = one(bundle_of(), "Patient", CLIENT_ID)

    assert patient["identifier"] == [
        {"system": "https://ehr.riverside.example/mrn", "value": "MRN-4211"},
        {"system": "urn:homework-api:client", "value": CLIENT_ID},
    ]
    assert patient["name"] == [{"text": "Sam Rivera"}]
    assert patient["telecom"] == [{"system": "email", "value": "sam.rivera@example.org"}]
    assert patient["active"] is True
    assert patient["managingOrganization"]["reference"].startswith("Organization/")
    assert patient["meta"]["lastUpdated"] == "2026-10-02T10:00:00+00:00"


def test_external_id_labelled_without_a_uri_keeps_the_label_as_identifier_type():
    data = record()
    data["client"]["external_ids"] = [{"system": "Epic MRN", "value": "E-77"}]

    patient = one(everything_bundle(data, now=NOW), "Patient", CLIENT_ID)

    assert patient["identifier"][0] == {"type": {"text": "Epic MRN"}, "value": "E-77"}
    validated(patient)


def test_deactivated_client_is_an_inactive_patient():
    data = record()
    data["client"]["status"] = "deactivated"

    patient = one(everything_bundle(data, now=NOW), "Patient", CLIENT_ID)

    assert patient["active"] is False


def test_care_plan_has_one_activity_per_assignment_with_mapped_status_and_pinned_version():
    plan = one(bundle_of(), "CarePlan", CLIENT_ID)
    by_template = {
        a["detail"]["instantiatesCanonical"][0]: a["detail"]
        for a in plan["activity"]
        if "instantiatesCanonical" in a["detail"]
    }

    statuses = {
        canonical.split("/")[-1]: detail["status"] for canonical, detail in by_template.items()
    }

    assert (plan["status"], plan["intent"]) == ("active", "plan")
    assert statuses == {
        f"{TEMPLATE_IDS['phq-9']}|1": "in-progress",
        f"{TEMPLATE_IDS['thought-record']}|2": "in-progress",
        f"{TEMPLATE_IDS['cognitive-distortions']}|1": "completed",
        f"{TEMPLATE_IDS['gad-7']}|1": "on-hold",
        f"{TEMPLATE_IDS['activity-log']}|1": "cancelled",
    }
    thought = by_template[f"{BASE_URL}/Questionnaire/{TEMPLATE_IDS['thought-record']}|2"]
    assert thought["kind"] == "Task"
    assert thought["goal"] == [{"reference": f"Goal/{GOAL_SLEEP}"}]
    assert thought["description"].startswith("Thought record\n\nPlease do the thought record")


def test_activity_outcomes_list_the_responses_to_that_assignment():
    plan = one(bundle_of(), "CarePlan", CLIENT_ID)

    thought = next(a for a in plan["activity"] if "|2" in str(a["detail"]))

    assert thought["outcomeReference"] == [
        {"reference": f"QuestionnaireResponse/{cid(3)}"},
        {"reference": f"QuestionnaireResponse/{cid(6)}"},
    ]


def test_weekly_rrule_becomes_timing_repeat_and_keeps_the_rule_verbatim():
    plan = one(bundle_of(), "CarePlan", CLIENT_ID)

    timing = next(a for a in plan["activity"] if "|2" in str(a["detail"]))["detail"][
        "scheduledTiming"
    ]

    assert timing["code"] == {"text": "FREQ=WEEKLY;BYDAY=MO,WE,FR;INTERVAL=1"}
    assert timing["repeat"] == {
        # Three days a week, twice a day.
        "frequency": 6,
        "period": 1,
        "periodUnit": "wk",
        "dayOfWeek": ["mon", "wed", "fri"],
        "timeOfDay": ["08:00:00", "20:00:00"],
        "boundsPeriod": {"start": "2026-11-02", "end": "2026-12-18"},
    }
    assert timing["extension"] == [
        {"url": "http://hl7.org/fhir/StructureDefinition/timezone", "valueCode": "Europe/Berlin"}
    ]


def test_schedule_count_and_until_become_timing_count_and_bounds():
    plan = one(bundle_of(), "CarePlan", CLIENT_ID)
    repeats = {
        a["detail"]["scheduledTiming"].get("code", {}).get("text"): a
        for a in plan["activity"]
        if "scheduledTiming" in a["detail"]
    }

    phq9 = repeats["FREQ=WEEKLY;INTERVAL=2;BYDAY=MO"]["detail"]["scheduledTiming"]["repeat"]
    daily = repeats["FREQ=DAILY;UNTIL=20261031"]["detail"]["scheduledTiming"]["repeat"]
    monthly = repeats["FREQ=MONTHLY;BYDAY=1MO"]["detail"]["scheduledTiming"]["repeat"]

    assert (phq9["count"], phq9["period"], phq9["dayOfWeek"]) == (6, 2, ["mon"])
    assert daily["boundsPeriod"] == {"start": "2026-10-01", "end": "2026-10-31"}
    assert (daily["frequency"], daily["periodUnit"]) == (1, "d")
    # "First Monday of the month" has no dayOfWeek equivalent: only the rule says it.
    assert (monthly["frequency"], monthly["periodUnit"]) == (1, "mo")
    assert "dayOfWeek" not in monthly


def test_goal_steps_become_task_activities_in_position_order():
    plan = one(bundle_of(), "CarePlan", CLIENT_ID)

    steps = [a for a in plan["activity"] if "instantiatesCanonical" not in a["detail"]]

    assert [(s["detail"]["description"], s["detail"]["status"]) for s in steps] == [
        ("Set a 22:30 wind-down alarm", "completed"),
        ("Charge the phone in the kitchen", "not-started"),
    ]
    assert all(s["detail"]["kind"] == "Task" for s in steps)
    assert all(s["detail"]["goal"] == [{"reference": f"Goal/{GOAL_SLEEP}"}] for s in steps)
    assert steps[0]["progress"][0]["time"] == "2026-10-10T21:00:00+00:00"


def test_goals_map_status_achievement_target_and_why():
    bundle = bundle_of()

    sleep, running = one(bundle, "Goal", GOAL_SLEEP), one(bundle, "Goal", GOAL_RUNNING)

    assert sleep["lifecycleStatus"] == "active"
    assert sleep["achievementStatus"]["coding"][0]["code"] == "in-progress"
    assert sleep["description"] == {"text": "Sleep before midnight on weeknights"}
    assert sleep["target"] == [{"dueDate": "2027-01-31"}]
    assert {
        "text": "Why this matters: I want to have the energy to enjoy mornings with my kids."
    } in sleep["note"]
    assert running["lifecycleStatus"] == "completed"
    assert running["achievementStatus"]["coding"][0]["code"] == "achieved"
    assert "target" not in running and "note" not in running


def test_abandoned_goal_is_cancelled_and_not_achieved():
    data = record()
    data["goals"][0]["status"] = "abandoned"

    bundle = everything_bundle(data, now=NOW)
    goal = one(bundle, "Goal", GOAL_SLEEP)
    open_step = one(bundle, "CarePlan", CLIENT_ID)["activity"][-1]["detail"]

    assert goal["lifecycleStatus"] == "cancelled"
    assert goal["achievementStatus"]["coding"][0]["code"] == "not-achieved"
    # A step of a goal no longer pursued will never be started.
    assert open_step["status"] == "cancelled"


def test_phq9_score_observation_has_loinc_total_band_and_source_response():
    bundle = bundle_of()

    observation = one(bundle, "Observation", cid(2))

    assert observation["code"]["coding"][0]["system"] == LOINC
    assert observation["code"]["coding"][0]["code"] == "44261-6"
    assert observation["status"] == "final"
    assert observation["category"][0]["coding"][0]["code"] == "survey"
    # Realistic example: 1 + 2 + 2 + 1 + 1 + 1 + 0 + 0 + 0.
    assert observation["valueInteger"] == 8
    assert observation["interpretation"][0]["coding"][0]["code"] == "mild"
    assert observation["interpretation"][0]["coding"][0]["display"] == "Mild"
    assert observation["derivedFrom"] == [{"reference": f"QuestionnaireResponse/{cid(2)}"}]
    assert observation["effectiveDateTime"] == "2026-11-16T07:55:00+00:00"
    assert observation["subject"] == {"reference": f"Patient/{CLIENT_ID}"}


def test_phq9_item_9_risk_flag_travels_as_a_component():
    observation = one(bundle_of(), "Observation", cid(1))

    assert (observation["valueInteger"], observation["interpretation"][0]["text"]) == (
        17,
        "Moderately severe",
    )
    assert [c["valueCodeableConcept"]["text"] for c in observation["component"]] == ["self_harm"]


def test_gad7_score_observation_has_its_loinc_code():
    observation = one(bundle_of(), "Observation", cid(5))

    assert observation["code"]["coding"][0]["code"] == "70274-6"
    assert (observation["valueInteger"], observation["interpretation"][0]["text"]) == (8, "Mild")


def test_unscored_and_skipped_completions_have_no_score_observation():
    observation_ids = {o["id"] for o in resources(bundle_of(), "Observation")}

    assert {cid(1), cid(2), cid(5)} <= observation_ids
    assert observation_ids.isdisjoint({cid(3), cid(4), cid(6), cid(7)})


def test_score_without_total_gives_no_observation():
    data = record()
    data["completions"][1]["score"] |= {"total": None, "band": None, "complete": False}

    ids = {o["id"] for o in resources(everything_bundle(data, now=NOW), "Observation")}

    assert cid(2) not in ids and cid(1) in ids
