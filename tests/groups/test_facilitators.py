"""What a facilitator sees of the members: the completions of the group's homework (even of a
member not on their care team) and adherence per member and for the group; nothing else."""

from tests.groups.conftest import complete, give, join, make_group


async def _running_group(client, world):
    """`therapist_other` runs a group that `client` (not on their care team) and
    `client_other` (on it) are in, with one piece of homework each member did today."""
    group = await make_group(client, world)
    await join(client, world, group["id"], "client", display_name="Sam")
    await join(client, world, group["id"], "client_other", who="therapist_other")
    homework = await give(client, world, group["id"])
    given = {m["client_id"]: m["assignment_id"] for m in homework["member_assignments"]}
    done = await complete(client, world, given[str(world.client.id)])
    return group, homework, given, done


async def test_a_facilitator_reads_the_group_homeworks_completions_of_every_member(client, world):
    group, homework, given, done = await _running_group(client, world)
    # Private homework of the same client, outside the group.
    private = await complete(client, world, world.assignment.id)
    path = f"/v1/groups/{group['id']}/completions"
    seen = await client.get(path, headers=world.auth("therapist_other"))
    assert seen.status_code == 200, seen.text
    assert [c["id"] for c in seen.json()["items"]] == [done["id"]]
    assert seen.json()["items"][0]["responses"]["balanced_thought"]
    # Filters: by member and by the group's homework.
    by_member = await client.get(
        f"{path}?client_id={world.client_other.id}", headers=world.auth("therapist_other")
    )
    assert by_member.json()["items"] == []
    by_homework = await client.get(
        f"{path}?group_assignment_id={homework['id']}", headers=world.auth("therapist_other")
    )
    assert [c["id"] for c in by_homework.json()["items"]] == [done["id"]]
    # Nothing else of a member who is not on the facilitator's care team.
    for other_path in (
        f"/v1/completions/{done['id']}",
        f"/v1/completions/{private['id']}",
        f"/v1/clients/{world.client.id}",
        f"/v1/clients/{world.client.id}/metrics",
        f"/v1/assignments/{given[str(world.client.id)]}",
    ):
        response = await client.get(other_path, headers=world.auth("therapist_other"))
        assert response.status_code == 404, other_path
    # The member's own therapist, who does not run the group, does not see it.
    assert (await client.get(path, headers=world.auth("therapist"))).status_code == 404


async def test_group_metrics_count_adherence_per_member_without_answers(client, world):
    group, _, _, _ = await _running_group(client, world)
    response = await client.get(
        f"/v1/groups/{group['id']}/metrics?days=7", headers=world.auth("therapist_other")
    )
    assert response.status_code == 200, response.text
    metrics = response.json()
    assert metrics["days"] == 7
    by_member = {m["client_id"]: m for m in metrics["members"]}
    sam = by_member[str(world.client.id)]
    assert sam["display_name"] == "Sam" and sam["current"] is True
    assert sam["adherence"]["completed"] == 1
    other = by_member[str(world.client_other.id)]["adherence"]
    assert other["completed"] == 0
    group_total = metrics["group"]
    assert group_total["completed"] == 1
    assert group_total["scheduled"] == sam["adherence"]["scheduled"] + other["scheduled"]
    assert group_total["pending"] == sam["adherence"]["pending"] + other["pending"]
    assert "balanced_thought" not in response.text and "responses" not in response.text


async def test_a_former_member_stays_in_the_metrics_as_not_current(client, world):
    group, _, _, _ = await _running_group(client, world)
    await client.post(
        f"/v1/groups/{group['id']}/members/{world.client_other.id}/leave",
        headers=world.auth("therapist_other"),
    )
    metrics = (
        await client.get(f"/v1/groups/{group['id']}/metrics", headers=world.auth("admin"))
    ).json()
    current = {m["client_id"]: m["current"] for m in metrics["members"]}
    assert current == {str(world.client.id): True, str(world.client_other.id): False}
