"""Which assignments can have an occurrence in a window of local dates: the one filter that the
agenda, the metrics, the caseload and the streak days all use."""

from datetime import date

import pytest
from sqlalchemy import select

from app.assignments.models import Assignment
from app.assignments.repository import overlapping
from tests.factories import make_assignment

START, END = date(2027, 3, 10), date(2027, 3, 20)


async def _overlapping_titles(db, world, schedules: dict[str, dict]) -> set[str]:
    ids = {}
    for title, schedule in schedules.items():
        assignment = await make_assignment(db, world.therapist, world.client, schedule=schedule)
        ids[assignment.id] = title
    await db.flush()
    found = await db.scalars(
        select(Assignment.id).where(Assignment.id.in_(ids), overlapping(START, END))
    )
    return {ids[i] for i in found}


@pytest.mark.parametrize(
    ("day", "inside"),
    [("2027-03-09", False), ("2027-03-10", True), ("2027-03-20", True), ("2027-03-21", False)],
)
async def test_a_single_occurrence_overlaps_when_its_day_is_in_the_window(db, world, day, inside):
    titles = await _overlapping_titles(db, world, {"once": {"start_date": day}})
    assert titles == ({"once"} if inside else set())


async def test_an_open_ended_schedule_overlaps_every_window_from_its_start(db, world):
    titles = await _overlapping_titles(
        db,
        world,
        {
            "started before": {"start_date": "2027-01-01", "rrule": "FREQ=DAILY"},
            "starts inside": {"start_date": "2027-03-15", "rrule": "FREQ=WEEKLY"},
            "starts after": {"start_date": "2027-03-21", "rrule": "FREQ=DAILY"},
        },
    )
    assert titles == {"started before", "starts inside"}


async def test_a_bounded_schedule_overlaps_only_until_its_last_date(db, world):
    titles = await _overlapping_titles(
        db,
        world,
        {
            "ended before": {
                "start_date": "2027-01-01",
                "end_date": "2027-03-09",
                "rrule": "FREQ=DAILY",
            },
            "ends on the first day": {
                "start_date": "2027-01-01",
                "end_date": "2027-03-10",
                "rrule": "FREQ=DAILY",
            },
            "spans the window": {
                "start_date": "2027-03-01",
                "end_date": "2027-04-01",
                "rrule": "FREQ=DAILY",
            },
        },
    )
    assert titles == {"ends on the first day", "spans the window"}
