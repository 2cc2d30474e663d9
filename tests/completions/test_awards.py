"""A completion's achievements have one owner (app/completions/achievements.py): recording
prepares them with `prepare_awards`, which also loads the assignment's timeline that finds the
occurrence, and awards them with `grant` once the completion is stored."""

import re
from zoneinfo import ZoneInfo

from app.assignments.models import Assignment
from app.completions.achievements import prepare_awards
from app.core.time import utcnow
from tests.factories import make_completion
from tests.statements import statements


def _today(assignment: Assignment):
    return utcnow().astimezone(ZoneInfo(assignment.schedule["timezone"])).date()


READS = {
    "achievement": re.compile(r"^SELECT .* FROM achievement\b"),
    "assignment": re.compile(r"^SELECT .* FROM assignment\b"),
}


def _reading(seen: list[str], table: str) -> list[str]:
    return [s for s in seen if READS[table].search(s)]


async def test_a_skip_prepares_only_the_timeline_and_earns_nothing(client, world, app, db):
    assignment = await db.get(Assignment, world.assignment.id)
    with statements(app) as seen:
        awards = await prepare_awards(db, assignment, _today(assignment), done=False)
    assert _reading(seen, "achievement") == []
    assert _reading(seen, "assignment") == []  # only this assignment's schedules and pauses
    assert awards.timeline.occurrences(_today(assignment), _today(assignment))
    skipped = await make_completion(db, world.client, assignment)
    assert await awards.grant(db, skipped) == []


async def test_a_done_completion_reads_what_the_client_holds_once_and_shares_the_load(
    client, world, app, db
):
    assignment = await db.get(Assignment, world.assignment.id)
    today = _today(assignment)
    with statements(app) as seen:
        awards = await prepare_awards(db, assignment, today, done=True)
    assert len(_reading(seen, "achievement")) == 1
    assert len(_reading(seen, "assignment")) == 1  # the client's, for the streak and this one
    assert awards.scheduled is not None
    assert awards.timeline is awards.scheduled.timelines[assignment.id]
