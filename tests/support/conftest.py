"""Helpers for the support tests: a client with daily homework since some days, and rounds of
the support worker."""

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from app.auth.models import Role
from app.core.outbox import Event
from app.core.time import utcnow
from app.support.worker import evaluate_support
from app.templates.library import get_builtin
from tests.factories import make_assignment, make_completion, make_user, put_on_care_team

THOUGHT_RECORD = get_builtin("thought-record").realistic_example


def local_today(user) -> date:
    return utcnow().astimezone(ZoneInfo(user.timezone)).date()


async def struggling_client(db, world, *, timezone: str = "America/New_York", since: int = 3):
    """A client of `therapist` with a daily thought record since `since` local days ago (none
    answered: each past day is missed). Answers the client and the assignment."""
    client = await make_user(db, world.clinic, Role.client, timezone=timezone)
    await put_on_care_team(db, world.therapist, client)
    start = local_today(client) - timedelta(days=since)
    assignment = await make_assignment(
        db,
        world.therapist,
        client,
        schedule={"start_date": start.isoformat(), "rrule": "FREQ=DAILY"},
    )
    await db.commit()
    return client, assignment


async def answer(db, client, assignment, days_ago: int, **fields):
    """The client answers the occurrence of `days_ago` local days ago (default: done)."""
    for row in (client, assignment):  # expired by an earlier rollback or commit
        await db.refresh(row)
    day = local_today(client) - timedelta(days=days_ago)
    fields.setdefault("status", "done")
    if fields["status"] == "done":
        fields.setdefault("responses", THOUGHT_RECORD)
    await make_completion(db, client, assignment, occurrence_date=day.isoformat(), **fields)
    await db.commit()


async def rounds(app, now=None) -> int:
    """Worker rounds until no client is due; how many evaluations they made."""
    total = 0
    while evaluated := await evaluate_support(app.state.sessionmaker, now=now):
        total += evaluated
    return total


async def events_of(db, type_: str, client_id=None) -> list[Event]:
    await db.rollback()  # a fresh snapshot
    stmt = select(Event).where(Event.type == type_).order_by(Event.sequence)
    if client_id is not None:
        stmt = stmt.where(Event.client_id == client_id)
    return list((await db.execute(stmt)).scalars())
