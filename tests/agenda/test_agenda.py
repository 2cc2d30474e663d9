"""The agenda: occurrences day by day in the client's zone, correct across DST, bounded queries."""

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from app.assignments.models import AssignmentPause
from app.auth.models import User
from tests.factories import make_assignment
from tests.statements import statements


async def agenda(client, world, start, end, who="therapist"):
    response = await client.get(
        f"/v1/clients/{world.client.id}/agenda?from={start}&to={end}", headers=world.auth(who)
    )
    assert response.status_code == 200, response.text
    return response.json()


async def set_zone(db, user, zone):
    await db.execute(update(User).where(User.id == user.id).values(timezone=zone))
    await db.commit()


async def only(db, world, schedule):
    """Replace the world's assignment with one of this schedule; returns its id."""
    assignment = await make_assignment(db, world.therapist, world.client, schedule=schedule)
    await db.commit()
    return str(assignment.id)


def items_of(body, assignment_id):
    return [i for i in body["items"] if i["assignment_id"] == assignment_id]


@pytest.mark.parametrize(
    ("zone", "change_day", "before_utc", "after_utc"),
    [
        ("America/New_York", date(2026, 3, 8), "13:00", "12:00"),  # spring forward
        ("America/New_York", date(2026, 11, 1), "12:00", "13:00"),  # fall back
        ("Europe/Berlin", date(2026, 3, 29), "07:00", "06:00"),
        ("Europe/Berlin", date(2026, 10, 25), "06:00", "07:00"),
        ("Asia/Kolkata", date(2026, 3, 8), "02:30", "02:30"),  # no DST
    ],
)
async def test_a_daily_0800_practice_stays_at_0800_local_across_dst(
    client, world, db, zone, change_day, before_utc, after_utc
):
    await set_zone(db, world.client, zone)
    start = change_day - timedelta(days=2)
    aid = await only(
        db,
        world,
        {
            "start_date": start.isoformat(),
            "rrule": "FREQ=DAILY",
            "times": ["08:00"],
            "end_date": (start + timedelta(days=4)).isoformat(),
        },
    )
    items = items_of(await agenda(client, world, start, start + timedelta(days=4)), aid)
    assert [i["local_time"] for i in items] == ["08:00"] * 5
    assert all(i["timezone"] == zone for i in items)
    utc_times = [i["due_at"][11:16] for i in items]
    assert utc_times[:2] == [before_utc] * 2
    assert utc_times[-2:] == [after_utc] * 2
    assert all(i["status"] == "missed" for i in items)  # all in the past as of the suite's runs


async def test_a_time_that_does_not_exist_moves_to_the_next_valid_minute(client, world, db):
    await set_zone(db, world.client, "America/New_York")
    aid = await only(db, world, {"start_date": "2026-03-08", "times": ["02:30"]})
    (item,) = items_of(await agenda(client, world, "2026-03-08", "2026-03-08"), aid)
    assert item["local_time"] == "02:30"
    assert item["due_at"] == "2026-03-08T07:00:00Z"  # 03:00 EDT


async def test_an_ambiguous_time_takes_the_first(client, world, db):
    await set_zone(db, world.client, "America/New_York")
    aid = await only(db, world, {"start_date": "2026-11-01", "times": ["01:30"]})
    (item,) = items_of(await agenda(client, world, "2026-11-01", "2026-11-01"), aid)
    assert item["due_at"] == "2026-11-01T05:30:00Z"  # 01:30 EDT, the first of the two


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (
            "FREQ=WEEKLY;BYDAY=MO,WE,FR",
            ["2027-01-04", "2027-01-06", "2027-01-08", "2027-01-11", "2027-01-13", "2027-01-15"],
        ),
        (
            "FREQ=DAILY;INTERVAL=2",
            [
                "2027-01-04",
                "2027-01-06",
                "2027-01-08",
                "2027-01-10",
                "2027-01-12",
                "2027-01-14",
                "2027-01-16",
            ],
        ),
        ("FREQ=DAILY;COUNT=3", ["2027-01-04", "2027-01-05", "2027-01-06"]),
        ("FREQ=WEEKLY;UNTIL=20270112", ["2027-01-04", "2027-01-11"]),
        ("FREQ=MONTHLY;BYMONTHDAY=15", ["2027-01-15"]),
    ],
)
async def test_recurrence_rules_produce_the_expected_days(client, world, db, rule, expected):
    aid = await only(db, world, {"start_date": "2027-01-04", "rrule": rule})
    items = items_of(await agenda(client, world, "2027-01-04", "2027-01-17"), aid)
    assert [i["local_date"] for i in items] == expected
    assert all(i["local_time"] is None and i["status"] == "upcoming" for i in items)


async def test_statuses_follow_the_clients_today(client, world):
    tz = ZoneInfo(world.client.timezone)
    today = datetime.now(UTC).astimezone(tz).date()
    body = await agenda(client, world, today - timedelta(days=1), today + timedelta(days=1))
    by_day = {i["local_date"]: i["status"] for i in items_of(body, str(world.assignment.id))}
    assert by_day.get(str(today)) == "due"
    assert by_day.get(str(today + timedelta(days=1))) == "upcoming"


async def test_a_pause_leaves_no_missed_occurrences_inside_it(client, world, db):
    start = date(2026, 6, 1)
    aid = await only(
        db,
        world,
        {
            "start_date": start.isoformat(),
            "rrule": "FREQ=DAILY",
            "times": ["09:00"],
            "end_date": "2026-06-10",
        },
    )
    tz = ZoneInfo(world.client.timezone)
    paused_at = datetime(2026, 6, 3, 12, 0, tzinfo=tz).astimezone(UTC)
    resumed_at = datetime(2026, 6, 6, 12, 0, tzinfo=tz).astimezone(UTC)
    db.add(
        AssignmentPause(
            clinic_id=world.clinic.id,
            assignment_id=uuid.UUID(aid),
            paused_at=paused_at,
            resumed_at=resumed_at,
        )
    )
    await db.commit()
    items = items_of(await agenda(client, world, start, date(2026, 6, 10)), aid)
    days = [i["local_date"] for i in items]
    assert days == [
        "2026-06-01",
        "2026-06-02",
        "2026-06-03",
        "2026-06-07",
        "2026-06-08",
        "2026-06-09",
        "2026-06-10",
    ]


async def test_pausing_through_the_api_records_the_interval(client, world, db):
    url = f"/v1/assignments/{world.assignment.id}"
    await client.patch(url, headers=world.auth("therapist"), json={"status": "paused"})
    await client.patch(url, headers=world.auth("therapist"), json={"status": "active"})
    from sqlalchemy import select

    rows = (await db.execute(select(AssignmentPause))).scalars().all()
    assert len(rows) == 1 and rows[0].resumed_at is not None
    assert rows[0].resumed_at >= rows[0].paused_at


async def test_a_31_day_agenda_of_10_assignments_takes_a_bounded_number_of_queries(
    client, world, db, app
):
    for n in range(10):
        await make_assignment(
            db,
            world.therapist,
            world.client,
            schedule={
                "start_date": "2027-01-01",
                "rrule": "FREQ=DAILY",
                "times": ["08:00", "20:00"],
            }
            if n % 2
            else {"start_date": "2027-01-01", "rrule": "FREQ=WEEKLY;BYDAY=MO,TH"},
        )
    await db.commit()
    with statements(app) as seen:
        body = await agenda(client, world, "2027-01-01", "2027-01-31")
    assert len(body["items"]) > 300
    selects = [s for s in seen if s.upper().startswith("SELECT")]
    # The principal check, the client, then assignments, schedules, pauses and completions in
    # one statement: never one per item.
    assert len(selects) == 3, selects


async def test_an_agenda_spans_at_most_92_days(client, world):
    response = await client.get(
        f"/v1/clients/{world.client.id}/agenda?from=2027-01-01&to=2027-04-30",
        headers=world.auth("therapist"),
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["query", "to"]
    backwards = await client.get(
        f"/v1/clients/{world.client.id}/agenda?from=2027-01-10&to=2027-01-01",
        headers=world.auth("therapist"),
    )
    assert backwards.status_code == 422


async def test_a_client_reads_their_own_agenda(client, world):
    body = (await client.get("/v1/me/agenda", headers=world.auth("client"))).json()
    assert body["client_id"] == str(world.client.id)
    assert body["timezone"] == world.client.timezone
    assert len(items_of(body, str(world.assignment.id))) == 7  # a week by default
