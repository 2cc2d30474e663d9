"""The principal check reads the caller's user row once per request, and a client's own record
is that row: no second lookup for `GET /v1/me/agenda` or the client's own resources."""

import re

from tests.statements import statements

USER_READ = re.compile(r'\bFROM "?user"?(\s|$)')


async def test_a_clients_own_agenda_reads_their_user_row_once(client, world, app):
    with statements(app) as seen:
        response = await client.get("/v1/me/agenda", headers=world.auth("client"))
    assert response.status_code == 200, response.text
    assert response.json()["client_id"] == str(world.client.id)
    assert response.json()["timezone"] == "America/New_York"
    assert len([s for s in seen if USER_READ.search(s)]) == 1


async def test_a_client_naming_themself_by_id_reads_their_row_once(client, world, app):
    with statements(app) as seen:
        response = await client.get(
            f"/v1/clients/{world.client.id}/agenda", headers=world.auth("client")
        )
    assert response.status_code == 200, response.text
    assert response.json()["client_id"] == str(world.client.id)
    assert len([s for s in seen if USER_READ.search(s)]) == 1


async def test_a_client_naming_another_client_still_finds_nothing(client, world):
    for other in (world.client_other, world.other_client, world.therapist):
        response = await client.get(f"/v1/clients/{other.id}/agenda", headers=world.auth("client"))
        assert response.status_code == 404, (other.role, response.text)


async def test_a_therapist_reading_a_client_looks_the_client_up(client, world, app):
    with statements(app) as seen:
        response = await client.get(
            f"/v1/clients/{world.client.id}/agenda", headers=world.auth("therapist")
        )
    assert response.status_code == 200, response.text
    # The therapist's own row for the principal, then the care-team-scoped client lookup.
    assert len([s for s in seen if USER_READ.search(s)]) == 2
    other = await client.get(
        f"/v1/clients/{world.client_other.id}/agenda", headers=world.auth("therapist")
    )
    assert other.status_code == 404
