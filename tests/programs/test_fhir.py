"""Programs as FHIR PlanDefinitions, enrolments as CarePlans that instantiate them, both
valid R4B resources with codes from their value sets."""

from app.fhir.program import ENROLMENT_STATUS, STEP_STATUS
from app.programs.library import builtin_program_id
from app.programs.models import EnrolmentStatus, StepState
from tests.fhir.fhir_checks import VALUE_SETS, validated
from tests.programs.conftest import IMMEDIATELY, enrol, make_program, step

LOW_MOOD = builtin_program_id("low-mood-six-weeks")


async def test_a_program_is_a_plan_definition_with_one_action_per_step(client, world):
    response = await client.get(
        f"/v1/fhir/PlanDefinition/{LOW_MOOD}", headers=world.auth("therapist")
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    plan = response.json()
    validated(plan)
    assert plan["url"] == f"http://testserver/v1/fhir/PlanDefinition/{LOW_MOOD}"
    assert plan["version"] == "1" and plan["title"] == "Low mood, six weeks"
    actions = plan["action"]
    assert [a["id"] for a in actions] == [f"step-{n}" for n in range(1, 6)]
    assert actions[0]["definitionCanonical"].startswith("http://testserver/v1/fhir/Questionnaire/")
    assert actions[1]["relatedAction"] == [{"actionId": "step-1", "relationship": "after-end"}]
    assert actions[3]["relatedAction"][0]["offsetDuration"]["value"] == 1
    assert actions[3]["requiredBehavior"] == "could"
    assert actions[4]["timingDuration"] == {
        "value": 35,
        "unit": "days",
        "system": "http://unitsofmeasure.org",
        "code": "d",
    }


async def test_an_enrolment_is_a_care_plan_instantiating_its_version(client, world):
    program = await make_program(client, world, [step(IMMEDIATELY), step(IMMEDIATELY)])
    edited = await client.patch(
        f"/v1/programs/{program['id']}", headers=world.auth("therapist"), json={"title": "P2"}
    )
    assert edited.json()["version"] == 2
    enrolment = await enrol(client, world, program["id"])
    await client.patch(
        f"/v1/enrolments/{enrolment['id']}",
        headers=world.auth("therapist"),
        json={"status": "paused"},
    )
    response = await client.get(
        f"/v1/fhir/CarePlan/{enrolment['id']}", headers=world.auth("api_full")
    )
    assert response.status_code == 200, response.text
    care_plan = response.json()
    validated(care_plan)
    assert care_plan["instantiatesCanonical"] == [
        f"http://testserver/v1/fhir/PlanDefinition/{program['id']}|2"
    ]
    assert care_plan["status"] == "on-hold" and care_plan["status"] in VALUE_SETS["CarePlan.status"]
    assert care_plan["subject"] == {"reference": f"Patient/{world.client.id}"}
    assert [a["detail"]["status"] for a in care_plan["activity"]] == ["in-progress"] * 2
    # The version it instantiates is still there.
    old = await client.get(
        f"/v1/fhir/PlanDefinition/{program['id']}?version=2", headers=world.auth("admin")
    )
    assert old.json()["title"] == "P2"
    for who in ("therapist_other", "other_admin"):
        hidden = await client.get(f"/v1/fhir/CarePlan/{enrolment['id']}", headers=world.auth(who))
        assert hidden.status_code == 404, who


def test_every_status_maps_to_a_code_of_its_value_set():
    assert set(ENROLMENT_STATUS) == {s.value for s in EnrolmentStatus}
    assert set(ENROLMENT_STATUS.values()) <= VALUE_SETS["CarePlan.status"]
    assert set(STEP_STATUS) == {s.value for s in StepState}
    assert set(STEP_STATUS.values()) <= VALUE_SETS["CarePlan.activity.detail.status"]
