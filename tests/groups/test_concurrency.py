"""Membership and the group's homework under concurrent requests (the point is PostgreSQL,
where the requests really overlap; SQLite serializes them): the group's row orders its
membership changes and its new homework, so nothing is given twice or missed."""

import asyncio

from tests.groups.conftest import assignments_of, give, make_group


async def test_concurrent_joins_of_one_client_make_one_membership(client, world):
    group = await make_group(client, world)
    url = f"/v1/groups/{group['id']}/members"
    answers = await asyncio.gather(
        *(
            client.post(url, headers=world.auth("admin"), json={"client_id": str(world.client.id)})
            for _ in range(6)
        )
    )
    assert sorted(r.status_code for r in answers) == [201] + [409] * 5
    members = await client.get(url, headers=world.auth("admin"))
    assert len(members.json()["items"]) == 1


async def test_homework_given_while_members_join_reaches_each_member_once(client, world, db):
    group = await make_group(client, world)
    url = f"/v1/groups/{group['id']}/members"
    joins = [
        client.post(url, headers=world.auth("admin"), json={"client_id": str(user.id)})
        for user in (world.client, world.client_other)
    ]
    results = await asyncio.gather(
        *joins, give(client, world, group["id"]), return_exceptions=False
    )
    assert [r.status_code for r in results[:2]] == [201, 201]
    homework = results[2]
    given = await assignments_of(db, homework["id"])
    # Whichever came first, each member has exactly one assignment of it.
    assert sorted(str(a.client_id) for a in given) == sorted(
        [str(world.client.id), str(world.client_other.id)]
    )
