"""The principal check reads the caller's user row once, then answers from the process's cache
for PRINCIPAL_CACHE_SECONDS; a client's own reads by local date look up their time zone alone."""

import re

from tests.statements import statements

USER_READ = re.compile(r'\bFROM "?user"?(\s|$)')
ACCESS_READ = re.compile(r"SELECT .*user.*\.status, .*clinic_id, .*role\s+FROM")


def _user_reads(seen: list[str]) -> list[str]:
    return [s for s in seen if USER_READ.search(s)]


async def test_a_clients_own_agenda_reads_the_access_row_once_then_the_time_zone_alone(
    client, world, app
):
    for attempt in (1, 2):
        with statements(app) as seen:
            response = await client.get("/v1/me/agenda", headers=world.auth("client"))
        assert response.status_code == 200, response.text
        assert response.json()["client_id"] == str(world.client.id)
        assert response.json()["timezone"] == "America/New_York"
        reads = _user_reads(seen)
        access = [s for s in reads if ACCESS_READ.search(s)]
        # The first request checks the account; the second is answered from the cache.
        assert len(access) == (1 if attempt == 1 else 0), reads
        assert len(reads) - len(access) == 1, reads  # the time zone, read fresh every time


async def test_a_client_naming_themself_by_id_reads_their_time_zone_once(client, world, app):
    await client.get("/v1/me", headers=world.auth("client"))  # the access check is cached
    with statements(app) as seen:
        response = await client.get(
            f"/v1/clients/{world.client.id}/agenda", headers=world.auth("client")
        )
    assert response.status_code == 200, response.text
    assert response.json()["client_id"] == str(world.client.id)
    assert len(_user_reads(seen)) == 1


async def test_a_client_naming_another_client_still_finds_nothing(client, world):
    for other in (world.client_other, world.other_client, world.therapist):
        response = await client.get(f"/v1/clients/{other.id}/agenda", headers=world.auth("client"))
        assert response.status_code == 404, (other.role, response.text)


async def test_a_therapist_reading_a_client_looks_the_client_up(client, world, app):
    await client.get("/v1/me", headers=world.auth("therapist"))  # the access check is cached
    with statements(app) as seen:
        response = await client.get(
            f"/v1/clients/{world.client.id}/agenda", headers=world.auth("therapist")
        )
    assert response.status_code == 200, response.text
    # The care-team-scoped client lookup alone: the therapist's own row came from the cache.
    assert len(_user_reads(seen)) == 1
    other = await client.get(
        f"/v1/clients/{world.client_other.id}/agenda", headers=world.auth("therapist")
    )
    assert other.status_code == 404
