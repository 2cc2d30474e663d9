"""Peer support: opt-in, only the fields a member picks, under the name they chose; members
see the group's shown items and never anything else about each other; facilitators moderate;
a member withdraws what they shared."""

import uuid

from sqlalchemy import select, update

from app.completions.models import Achievement, AchievementType, Completion
from app.core.time import utcnow
from tests.groups.conftest import THOUGHT_RECORD, complete, give, join, make_group


async def _group_with_two_members(client, world):
    group = await make_group(client, world)
    await join(client, world, group["id"], "client", display_name="Sam")
    await join(client, world, group["id"], "client_other", display_name="Kit")
    homework = await give(client, world, group["id"])
    given = {m["client_id"]: m["assignment_id"] for m in homework["member_assignments"]}
    return group, given


async def _share(client, world, group_id, who="client", **body):
    return await client.post(f"/v1/groups/{group_id}/shares", headers=world.auth(who), json=body)


async def test_nothing_is_shared_until_a_member_shares_it(client, world):
    group, given = await _group_with_two_members(client, world)
    await complete(client, world, given[str(world.client.id)])
    listed = await client.get(
        f"/v1/groups/{group['id']}/shares", headers=world.auth("client_other")
    )
    assert listed.status_code == 200 and listed.json()["items"] == []


async def test_a_member_shares_only_the_written_fields_they_pick(client, world):
    group, given = await _group_with_two_members(client, world)
    done = await complete(client, world, given[str(world.client.id)], note="Easier than last week.")
    shared = await _share(
        client, world, group["id"], completion_id=done["id"], fields=["balanced_thought", "note"]
    )
    assert shared.status_code == 201, shared.text
    item = shared.json()
    assert item["display_name"] == "Sam" and item["mine"] is True and item["hidden"] is False
    assert set(item["content"]["fields"]) == {"balanced_thought", "note"}
    # What another member sees: the picked text under the chosen name, nothing else.
    seen = await client.get(f"/v1/groups/{group['id']}/shares", headers=world.auth("client_other"))
    (other_view,) = seen.json()["items"]
    assert other_view["mine"] is False and other_view["display_name"] == "Sam"
    text = seen.text
    for private in (
        str(world.client.id),
        world.client.email,
        done["id"],
        "situation",
        "intensity_after",
        "emotions",
    ):
        assert private not in text, private


async def test_scores_and_numbers_cannot_be_shared(client, world):
    group, given = await _group_with_two_members(client, world)
    done = await complete(client, world, given[str(world.client.id)])
    response = await _share(
        client,
        world,
        group["id"],
        completion_id=done["id"],
        fields=["balanced_thought", "intensity_after", "emotions", "missing"],
    )
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["errors"]] == [
        ["body", "fields", 1],
        ["body", "fields", 2],
        ["body", "fields", 3],
    ]
    neither = await _share(client, world, group["id"], fields=["note"])
    assert neither.status_code == 422
    assert neither.json()["errors"][0]["loc"] == ["body", "completion_id"]


async def test_a_member_cannot_share_another_members_work(client, world):
    group, given = await _group_with_two_members(client, world)
    theirs = await complete(client, world, given[str(world.client_other.id)], who="client_other")
    response = await _share(
        client, world, group["id"], completion_id=theirs["id"], fields=["balanced_thought"]
    )
    assert response.status_code == 404


async def test_sharing_needs_a_display_name_and_happens_once(client, world, db):
    group = await make_group(client, world)
    await join(client, world, group["id"], "client")
    homework = await give(client, world, group["id"])
    done = await complete(client, world, homework["member_assignments"][0]["assignment_id"])
    body = {"completion_id": done["id"], "fields": ["balanced_thought"]}
    unnamed = await _share(client, world, group["id"], **body)
    assert unnamed.status_code == 409 and unnamed.json()["type"].endswith("display-name-needed")
    named = await client.patch(
        f"/v1/groups/{group['id']}/members/{world.client.id}",
        headers=world.auth("client"),
        json={"display_name": "  Sam  "},
    )
    assert named.status_code == 200 and named.json()["display_name"] == "Sam"
    assert (await _share(client, world, group["id"], **body)).status_code == 201
    again = await _share(client, world, group["id"], **body)
    assert again.status_code == 409 and again.json()["errors"][0]["loc"] == [
        "body",
        "completion_id",
    ]


async def test_an_achievement_is_shared_whole(client, world, db):
    group, _ = await _group_with_two_members(client, world)
    achievement = Achievement(
        clinic_id=world.clinic.id,
        client_id=world.client.id,
        type=AchievementType.streak,
        key=f"streak-{uuid.uuid4()}",
        title="Seven days in a row",
        earned_at=utcnow(),
    )
    db.add(achievement)
    await db.commit()
    shared = await _share(client, world, group["id"], achievement_id=str(achievement.id))
    assert shared.status_code == 201, shared.text
    assert shared.json()["content"]["title"] == "Seven days in a row"


async def test_facilitators_hide_items_and_risk_is_held_for_review(client, world, db):
    group, given = await _group_with_two_members(client, world)
    first = await complete(client, world, given[str(world.client.id)])
    more = await give(client, world, group["id"])
    mine = [m for m in more["member_assignments"] if m["client_id"] == str(world.client.id)]
    second = await complete(client, world, mine[0]["assignment_id"])
    await db.execute(
        update(Completion).where(Completion.id == uuid.UUID(second["id"])).values(risk=True)
    )
    await db.commit()
    shown = (
        await _share(client, world, group["id"], completion_id=first["id"], fields=["situation"])
    ).json()
    held = (
        await _share(client, world, group["id"], completion_id=second["id"], fields=["situation"])
    ).json()
    assert held["hidden"] is True and held["hidden_reason"] == "held_for_review"
    path = f"/v1/groups/{group['id']}/shares"

    async def ids(who):
        return {i["id"] for i in (await client.get(path, headers=world.auth(who))).json()["items"]}

    # The author sees both (one held), other members only the shown one, facilitators both.
    assert await ids("client") == {shown["id"], held["id"]}
    assert await ids("client_other") == {shown["id"]}
    assert await ids("therapist_other") == {shown["id"], held["id"]}
    hide = await client.patch(
        f"{path}/{shown['id']}", headers=world.auth("therapist_other"), json={"hidden": True}
    )
    assert hide.status_code == 200 and hide.json()["hidden_reason"] == "facilitator"
    release = await client.patch(
        f"{path}/{held['id']}", headers=world.auth("therapist_other"), json={"hidden": False}
    )
    assert release.status_code == 200 and release.json()["hidden"] is False
    assert await ids("client_other") == {held["id"]}
    # A therapist who does not run the group moderates nothing.
    other = await client.patch(
        f"{path}/{held['id']}", headers=world.auth("therapist"), json={"hidden": True}
    )
    assert other.status_code == 404


async def test_a_member_withdraws_what_they_shared_even_after_leaving(client, world, db):
    group, given = await _group_with_two_members(client, world)
    done = await complete(client, world, given[str(world.client.id)])
    item = (
        await _share(client, world, group["id"], completion_id=done["id"], fields=["situation"])
    ).json()
    path = f"/v1/groups/{group['id']}/shares/{item['id']}"
    # Nobody else can withdraw it.
    assert (await client.delete(path, headers=world.auth("client_other"))).status_code == 404
    await client.post(
        f"/v1/groups/{group['id']}/members/{world.client.id}/leave", headers=world.auth("client")
    )
    assert (await client.delete(path, headers=world.auth("client"))).status_code == 204
    await db.rollback()
    from app.groups.models import GroupShare

    assert await db.scalar(select(GroupShare).where(GroupShare.id == uuid.UUID(item["id"]))) is None
    assert (await client.delete(path, headers=world.auth("client"))).status_code == 404


async def test_a_member_reaches_nothing_of_another_member_by_any_route(client, world):
    """Every route a client may call, with another member's ids: not found."""
    group, given = await _group_with_two_members(client, world)
    theirs = await complete(client, world, given[str(world.client_other.id)], who="client_other")
    other = world.client_other.id
    me = world.auth("client")
    gid = group["id"]
    reads = [
        f"/v1/clients/{other}",
        f"/v1/clients/{other}/metrics",
        f"/v1/clients/{other}/achievements",
        f"/v1/assignments/{given[str(other)]}",
        f"/v1/completions/{theirs['id']}",
    ]
    for path in reads:
        assert (await client.get(path, headers=me)).status_code == 404, path
    writes = [
        ("PATCH", f"/v1/groups/{gid}/members/{other}", {"display_name": "Mine now"}),
        ("POST", f"/v1/groups/{gid}/members/{other}/leave", None),
    ]
    for method, path, body in writes:
        response = await client.request(method, path, headers=me, json=body)
        assert response.status_code == 404, (path, response.text)
    members = await client.get(f"/v1/groups/{gid}/members", headers=me)
    assert [m["client_id"] for m in members.json()["items"]] == [str(world.client.id)]
    # The group's homework, its completions and metrics are for facilitators (403 by role).
    for path in (f"/v1/groups/{gid}/completions", f"/v1/groups/{gid}/metrics"):
        assert (await client.get(path, headers=me)).status_code == 403, path


async def test_the_clients_export_holds_their_stints_and_what_they_share(client, world):
    group, given = await _group_with_two_members(client, world)
    done = await complete(client, world, given[str(world.client.id)])
    await _share(client, world, group["id"], completion_id=done["id"], fields=["situation"])
    exported = await client.get(
        f"/v1/clients/{world.client.id}/export", headers=world.auth("client")
    )
    assert exported.status_code == 200, exported.text
    body = exported.json()
    assert [m["display_name"] for m in body["group_memberships"]] == ["Sam"]
    (item,) = body["group_shares"]
    assert item["content"] == {"fields": {"situation": THOUGHT_RECORD["situation"]}}
    # Only their own: the other member's stint is not in it.
    assert str(world.client_other.id) not in exported.text
