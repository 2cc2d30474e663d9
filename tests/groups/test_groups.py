"""Therapy groups: facilitators, who sees a group, members joining and leaving on dated
stints, and the group's homework given to each member as their own assignment."""

import uuid
from datetime import date, timedelta

from app.assignments.models import AssignmentStatus
from app.assignments.schedules import Schedule
from app.groups.schedules import member_schedule
from tests.groups.conftest import (
    BREATHING,
    assignments_of,
    give,
    join,
    make_group,
    today_of,
)


async def test_a_therapist_creating_a_group_facilitates_it(client, world):
    group = await make_group(client, world, description="Eight weeks")
    assert group["facilitator_ids"] == [str(world.therapist_other.id)]
    assert group["status"] == "active" and group["description"] == "Eight weeks"
    # An admin names the facilitators; they are active therapists of the clinic.
    by_admin = await make_group(
        client, world, who="admin", facilitator_ids=[str(world.therapist.id)]
    )
    assert by_admin["facilitator_ids"] == [str(world.therapist.id)]
    for ids, where in (([], "facilitator_ids"), ([str(world.client.id)], "facilitator_ids.0")):
        response = await client.post(
            "/v1/groups",
            headers=world.auth("admin"),
            json={"name": "G", "facilitator_ids": ids},
        )
        assert response.status_code == 422, response.text
        locs = [".".join(map(str, e["loc"][1:])) for e in response.json()["errors"]]
        assert locs == [where]


async def test_who_sees_a_group(client, world):
    group = await make_group(client, world)
    await join(client, world, group["id"])
    path = f"/v1/groups/{group['id']}"
    seen = {
        who: (await client.get(path, headers=world.auth(who))).status_code
        for who in ("admin", "therapist_other", "therapist", "client", "client_other")
    }
    # The facilitator, the admin and the member; not a therapist who does not run it (even
    # the member's own), nor a client who is not in it.
    assert seen == {
        "admin": 200,
        "therapist_other": 200,
        "therapist": 404,
        "client": 200,
        "client_other": 404,
    }
    listed = await client.get("/v1/groups", headers=world.auth("client_other"))
    assert listed.json()["items"] == []


async def test_changing_facilitators_keeps_the_calling_therapist(client, world):
    group = await make_group(client, world)
    response = await client.patch(
        f"/v1/groups/{group['id']}",
        headers={**world.auth("therapist_other"), "If-Match": '"1"'},
        json={"facilitator_ids": [str(world.therapist.id)], "name": "DBT, Tuesdays"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body["facilitator_ids"]) == {str(world.therapist.id), str(world.therapist_other.id)}
    assert body["name"] == "DBT, Tuesdays" and body["version"] == 2
    stale = await client.patch(
        f"/v1/groups/{group['id']}",
        headers={**world.auth("therapist_other"), "If-Match": '"1"'},
        json={"name": "Again"},
    )
    assert stale.status_code == 412


async def test_members_get_the_groups_homework_in_their_own_time_zone(client, world, db):
    group = await make_group(client, world)
    await join(client, world, group["id"], "client", display_name="Sam")
    await join(client, world, group["id"], "client_other")
    homework = await give(client, world, group["id"])
    given = {m["client_id"]: m["assignment_id"] for m in homework["member_assignments"]}
    assert set(given) == {str(world.client.id), str(world.client_other.id)}
    # Where the answer's Location points: the same homework, read again.
    location = f"/v1/groups/{group['id']}/assignments/{homework['id']}"
    again = await client.get(location, headers=world.auth("therapist_other"))
    assert again.status_code == 200 and again.json() == homework
    by_client = {str(a.client_id): a for a in await assignments_of(db, homework["id"])}
    assert by_client[str(world.client.id)].schedule["timezone"] == "America/New_York"
    assert by_client[str(world.client_other.id)].schedule["timezone"] == "Asia/Tokyo"
    # Each member's agenda shows it at 21:00 their time.
    day = today_of(world.client)
    agenda = await client.get(f"/v1/me/agenda?from={day}&to={day}", headers=world.auth("client"))
    ours = [o for o in agenda.json()["items"] if o["assignment_id"] == given[str(world.client.id)]]
    assert [o["local_time"] for o in ours] == ["21:00"]
    # A member reads their own assignment of it; another member's is not found.
    mine = await client.get(
        f"/v1/assignments/{given[str(world.client.id)]}", headers=world.auth("client")
    )
    theirs = await client.get(
        f"/v1/assignments/{given[str(world.client_other.id)]}", headers=world.auth("client")
    )
    assert (mine.status_code, theirs.status_code) == (200, 404)


async def test_a_member_joining_later_gets_the_current_homework_from_their_join_date(
    client, world, db
):
    group = await make_group(client, world)
    await join(client, world, group["id"], "client")
    homework = await give(client, world, group["id"])
    ended = await give(client, world, group["id"], template_id=BREATHING)
    await client.patch(
        f"/v1/groups/{group['id']}/assignments/{ended['id']}",
        headers=world.auth("therapist_other"),
        json={"status": "ended"},
    )
    starts_on = today_of(world.client_other) + timedelta(days=3)
    membership = await join(client, world, group["id"], "client_other", joined_on=str(starts_on))
    assert membership["joined_on"] == starts_on.isoformat() and membership["left_on"] is None
    late = [
        a for a in await assignments_of(db, homework["id"]) if a.client_id == world.client_other.id
    ]
    assert len(late) == 1 and late[0].first_date == starts_on
    assert late[0].last_date == date.fromisoformat(homework["schedule"]["end_date"])
    # Ended homework is not given to a newcomer.
    assert [a.client_id for a in await assignments_of(db, ended["id"])] == [world.client.id]


async def test_leaving_ends_the_members_group_homework_and_dates_the_stint(client, world, db):
    group = await make_group(client, world)
    await join(client, world, group["id"], "client")
    homework = await give(client, world, group["id"])
    # A member may leave themself; the client's own care-team therapist cannot (not theirs).
    path = f"/v1/groups/{group['id']}/members/{world.client.id}/leave"
    assert (await client.post(path, headers=world.auth("therapist"))).status_code == 404
    assert (await client.post(path, headers=world.auth("client_other"))).status_code == 404
    left = await client.post(path, headers=world.auth("client"))
    assert left.status_code == 200, left.text
    assert left.json()["left_on"] == today_of(world.client).isoformat()
    (assignment,) = await assignments_of(db, homework["id"])
    assert assignment.status == AssignmentStatus.cancelled
    # Gone from the group: it is no longer theirs to see, and leaving again finds nothing.
    assert (
        await client.get(f"/v1/groups/{group['id']}", headers=world.auth("client"))
    ).status_code == 404
    # Rejoining opens a new stint, with the homework given again from the new join date.
    await join(client, world, group["id"], "client")
    stints = await client.get(
        f"/v1/groups/{group['id']}/members", headers=world.auth("therapist_other")
    )
    rows = [(m["client_id"], m["left_on"] is None) for m in stints.json()["items"]]
    assert sorted(rows) == sorted([(str(world.client.id), False), (str(world.client.id), True)])
    statuses = sorted(a.status for a in await assignments_of(db, homework["id"]))
    assert statuses == [AssignmentStatus.active, AssignmentStatus.cancelled]


async def test_joining_twice_or_in_the_past_is_refused(client, world):
    group = await make_group(client, world)
    await join(client, world, group["id"], "client")
    again = await client.post(
        f"/v1/groups/{group['id']}/members",
        headers=world.auth("admin"),
        json={"client_id": str(world.client.id)},
    )
    assert again.status_code == 409 and again.json()["errors"][0]["loc"] == ["body", "client_id"]
    yesterday = today_of(world.client_other) - timedelta(days=1)
    past = await client.post(
        f"/v1/groups/{group['id']}/members",
        headers=world.auth("admin"),
        json={"client_id": str(world.client_other.id), "joined_on": str(yesterday)},
    )
    assert past.status_code == 422 and past.json()["errors"][0]["loc"] == ["body", "joined_on"]
    # A facilitator adds only clients of their own care team: `client` is not on theirs.
    other = await make_group(client, world)
    not_theirs = await client.post(
        f"/v1/groups/{other['id']}/members",
        headers=world.auth("therapist_other"),
        json={"client_id": str(world.client.id)},
    )
    assert not_theirs.status_code == 404


async def test_archiving_ends_homework_and_memberships(client, world, db):
    group = await make_group(client, world)
    await join(client, world, group["id"], "client")
    homework = await give(client, world, group["id"])
    archived = await client.patch(
        f"/v1/groups/{group['id']}", headers=world.auth("admin"), json={"status": "archived"}
    )
    assert archived.status_code == 200 and archived.json()["status"] == "archived"
    (assignment,) = await assignments_of(db, homework["id"])
    assert assignment.status == AssignmentStatus.cancelled
    members = await client.get(f"/v1/groups/{group['id']}/members", headers=world.auth("admin"))
    assert all(m["left_on"] for m in members.json()["items"])
    late = await client.post(
        f"/v1/groups/{group['id']}/members",
        headers=world.auth("admin"),
        json={"client_id": str(world.client_other.id)},
    )
    assert late.status_code == 409


def test_a_late_member_of_a_counted_schedule_gets_what_the_group_has_left():
    # Every other Monday from Monday 2026-11-02, six times: the group's dates are 2 Nov,
    # 16 Nov, 30 Nov, 14 Dec, 28 Dec, 11 Jan.
    group = Schedule.model_validate(
        {"start_date": "2026-11-02", "rrule": "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO;COUNT=6"}
    )
    late = member_schedule(group, date(2026, 12, 1), "Europe/Berlin")
    assert late is not None
    # The group's fortnights are kept (not every other week from the join date).
    assert late.start_date == date(2026, 12, 14) and late.count == 3  # 14 Dec, 28 Dec, 11 Jan
    assert late.rrule == "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO" and late.timezone == "Europe/Berlin"
    assert member_schedule(group, date(2027, 1, 12), "UTC") is None
    assert member_schedule(group, date(9998, 12, 31), "UTC") is None  # the calendar's edge
    # Joining on or before the start: the group's own schedule.
    assert member_schedule(group, date(2026, 11, 2), "UTC") == group.resolved("UTC")


def test_a_late_member_keeps_local_times_across_a_dst_change():
    """21:00 in New York stays 21:00 local after the clocks go back on 1 November 2026."""
    from app.assignments.recurrence import schedule_dates

    group = Schedule.model_validate(
        {
            "start_date": "2026-10-26",
            "end_date": "2026-11-08",
            "rrule": "FREQ=DAILY",
            "times": ["21:00"],
        }
    )
    late = member_schedule(group, date(2026, 10, 31), "America/New_York")
    assert late is not None and late.times == ["21:00"]
    dates = schedule_dates(late, date(2026, 10, 1), date(2026, 12, 1))
    assert dates[0] == date(2026, 10, 31) and dates[-1] == date(2026, 11, 8) and len(dates) == 9


async def test_unknown_group_and_homework_are_not_found(client, world):
    missing = await client.get(f"/v1/groups/{uuid.uuid4()}", headers=world.auth("admin"))
    assert missing.status_code == 404 and missing.json()["type"].endswith("group-not-found")
    group = await make_group(client, world)
    response = await client.patch(
        f"/v1/groups/{group['id']}/assignments/{uuid.uuid4()}",
        headers=world.auth("therapist_other"),
        json={"status": "ended"},
    )
    assert response.status_code == 404


async def test_bad_bodies_are_refused_naming_the_field(client, world):
    group = await make_group(client, world)
    twice = str(world.therapist.id)
    repeated = await client.patch(
        f"/v1/groups/{group['id']}",
        headers={**world.auth("therapist_other"), "If-Match": '"99"'},
        json={"facilitator_ids": [twice, twice]},
    )
    assert repeated.status_code == 422  # before the stale If-Match: the body is wrong
    assert repeated.json()["errors"][0]["loc"] == ["body", "facilitator_ids"]
    huge = await client.post(
        f"/v1/groups/{group['id']}/assignments",
        headers=world.auth("therapist_other"),
        json={
            "template_id": BREATHING,
            "template_version": 4611686018427387905,
            "schedule": {"start_date": "2026-12-01"},
        },
    )
    assert huge.status_code == 422
    assert huge.json()["errors"][0]["loc"] == ["body", "template_version"]
