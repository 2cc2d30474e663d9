"""The principal check reads the caller's user row once, then answers from the process's cache
for PRINCIPAL_CACHE_SECONDS. A client's own agenda is then one statement, which reads the
client's time zone along: the zone the principal check remembered is only a hint."""

import re

from sqlalchemy import update

from app.auth.models import User
from app.core.time import local_day, utcnow
from tests.statements import statements

USER_READ = re.compile(r'\bFROM "?user"?(\s|$)')
ACCESS_READ = re.compile(r"^SELECT .*user.*\.status, .*clinic_id, .*role")


def _user_reads(seen: list[str]) -> list[str]:
    return [s for s in seen if USER_READ.search(s)]


async def test_a_clients_own_agenda_is_one_statement_once_the_access_check_is_remembered(
    client, world, app
):
    for attempt in (1, 2):
        with statements(app) as seen:
            response = await client.get("/v1/me/agenda", headers=world.auth("client"))
        assert response.status_code == 200, response.text
        assert response.json()["client_id"] == str(world.client.id)
        assert response.json()["timezone"] == "America/New_York"
        reads = [s for s in seen if s.upper().startswith(("SELECT", "WITH"))]
        access = [s for s in reads if ACCESS_READ.search(s)]
        # The first request checks the account; the second is answered from the cache.
        assert len(access) == (1 if attempt == 1 else 0), reads
        assert len(reads) - len(access) == 1, reads  # the agenda, its zone read along


async def test_a_time_zone_changed_by_another_process_is_the_agendas_at_once(client, world, app):
    me = world.auth("client")
    assert (await client.get("/v1/me/agenda", headers=me)).json()["timezone"] == "America/New_York"
    # Another process changes it: this one's cache still holds the old zone as its hint.
    async with app.state.engine.begin() as connection:
        await connection.execute(
            update(User).where(User.id == world.client.id).values(timezone="Pacific/Kiritimati")
        )
    agenda = (await client.get("/v1/me/agenda", headers=me)).json()
    assert agenda["timezone"] == "Pacific/Kiritimati"
    assert agenda["from"] == local_day(utcnow(), "Pacific/Kiritimati").isoformat()


async def test_a_client_naming_themself_by_id_is_one_statement(client, world, app):
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
    # The care-team-scoped client lookup, then the agenda (the therapist's row came from the
    # cache).
    assert len(_user_reads(seen)) == 2
    other = await client.get(
        f"/v1/clients/{world.client_other.id}/agenda", headers=world.auth("therapist")
    )
    assert other.status_code == 404
