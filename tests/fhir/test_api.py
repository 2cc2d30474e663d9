"""The FHIR endpoints: the bundle of a seeded demo client validates with zero errors."""

from sqlalchemy import select

from app.auth.models import User
from app.auth.principal import ROLE_SCOPES
from app.auth.tokens import user_access_token
from app.seed import seed_demo
from tests.fhir.fhir_checks import VALUE_SETS, coded_values, resources, validated


async def test_the_bundle_of_a_seeded_demo_client_validates(client, app, db):
    await seed_demo(app.state.sessionmaker)
    therapist = await db.scalar(select(User).where(User.email == "therapist@demo.clinic"))
    patient = await db.scalar(select(User).where(User.email == "client1@demo.clinic"))
    token = user_access_token(
        app.state.jwt, app.state.settings, therapist, ROLE_SCOPES[therapist.role]
    )
    response = await client.get(
        f"/v1/fhir/Patient/{patient.id}/$everything", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    bundle = response.json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
    for entry in bundle["entry"]:
        validated(entry["resource"])
    for value_set, code in coded_values(bundle):
        assert code in VALUE_SETS[value_set], (value_set, code)
    kinds = {e["resource"]["resourceType"] for e in bundle["entry"]}
    assert {
        "Patient",
        "Practitioner",
        "Organization",
        "CarePlan",
        "Questionnaire",
        "QuestionnaireResponse",
        "Goal",
        "Observation",
    } <= kinds
    phq = [
        o
        for o in resources(bundle, "Observation")
        if any(c.get("code") == "44261-6" for c in o["code"].get("coding", []))
    ]
    assert phq and all("valueInteger" in o for o in phq)


async def test_a_questionnaire_for_a_template_version(client, world):
    response = await client.get(
        f"/v1/fhir/Questionnaire/{world.template.id}?version=1", headers=world.auth("therapist")
    )
    assert response.status_code == 200
    document = validated(response.json())
    assert document.version == "1"
    assert [i.linkId for i in document.item if i.type != "display"][:2] == ["bedtime", "rested"]
    missing = await client.get(
        f"/v1/fhir/Questionnaire/{world.template.id}?version=9", headers=world.auth("therapist")
    )
    assert missing.status_code == 404
