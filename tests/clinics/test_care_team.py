"""Care teams: admins set them; a therapist on the team may add colleagues, not remove them."""


async def team(client, world, who="admin"):
    response = await client.get(f"/v1/clients/{world.client.id}/care-team", headers=world.auth(who))
    assert response.status_code == 200
    return [t["id"] for t in response.json()["therapists"]]


async def test_the_client_sees_their_own_care_team(client, world):
    assert await team(client, world, "client") == [str(world.therapist.id)]


async def test_a_therapist_may_add_a_colleague(client, world):
    both = [str(world.therapist.id), str(world.therapist_other.id)]
    response = await client.put(
        f"/v1/clients/{world.client.id}/care-team",
        headers=world.auth("therapist"),
        json={"therapist_ids": both},
    )
    assert response.status_code == 200
    assert sorted(await team(client, world)) == sorted(both)
    # The colleague now sees the client.
    seen = await client.get(f"/v1/clients/{world.client.id}", headers=world.auth("therapist_other"))
    assert seen.status_code == 200


async def test_a_therapist_may_not_remove_anyone(client, world):
    response = await client.put(
        f"/v1/clients/{world.client.id}/care-team",
        headers=world.auth("therapist"),
        json={"therapist_ids": [str(world.therapist_other.id)]},
    )
    assert response.status_code == 403
    assert await team(client, world) == [str(world.therapist.id)]


async def test_an_admin_replaces_the_team_and_the_old_therapist_loses_sight(client, world):
    response = await client.put(
        f"/v1/clients/{world.client.id}/care-team",
        headers=world.auth("admin"),
        json={"therapist_ids": [str(world.therapist_other.id)]},
    )
    assert response.status_code == 200
    gone = await client.get(f"/v1/clients/{world.client.id}", headers=world.auth("therapist"))
    assert gone.status_code == 404


async def test_only_therapists_of_the_same_clinic_can_join(client, world):
    response = await client.put(
        f"/v1/clients/{world.client.id}/care-team",
        headers=world.auth("admin"),
        json={
            "therapist_ids": [
                str(world.therapist.id),
                str(world.other_therapist.id),
                str(world.admin.id),
            ]
        },
    )
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["errors"]] == [
        ["body", "therapist_ids", 1],
        ["body", "therapist_ids", 2],
    ]
    assert await team(client, world) == [str(world.therapist.id)]
