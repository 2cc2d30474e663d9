"""Helpers for the program tests: programs made through the API, enrolments, completions of a
step's assignment, and worker rounds."""

import uuid
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from app.assignments.models import Assignment
from app.core.outbox import Event
from app.core.time import utcnow
from app.programs.worker import release_due_steps
from app.templates.library import get_builtin
from app.templates.service import builtin_template_id

THOUGHT_RECORD = get_builtin("thought-record").realistic_example
TR = str(builtin_template_id("thought-record"))


def step(release: dict[str, Any], **rest: Any) -> dict[str, Any]:
    """A thought-record step, any time of day, daily for a week unless said otherwise."""
    return {
        "template_id": TR,
        "schedule": {"rrule": "FREQ=DAILY", "days": 7},
        "release": release,
        **rest,
    }


IMMEDIATELY = {"type": "immediately"}
AFTER = {"type": "after_previous_completed"}


def local_today(timezone: str) -> date:
    return utcnow().astimezone(ZoneInfo(timezone)).date()


def midnight(day: date, timezone: str) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(timezone)).astimezone(ZoneInfo("UTC"))


async def make_program(client, world, steps: list[dict[str, Any]], who: str = "therapist"):
    response = await client.post(
        "/v1/programs",
        headers=world.auth(who),
        json={
            "slug": f"p-{utcnow().timestamp():.6f}".replace(".", "-"),
            "title": "P",
            "steps": steps,
        },
    )
    assert response.status_code == 201, response.text
    return response.json()


async def enrol(client, world, program_id, who: str = "therapist", **body: Any):
    response = await client.post(
        f"/v1/programs/{program_id}/enrolments",
        headers=world.auth(who),
        json={"client_id": str(world.client.id), **body},
    )
    assert response.status_code == 201, response.text
    return response.json()


async def get_enrolment(client, world, enrolment_id, who: str = "therapist"):
    response = await client.get(f"/v1/enrolments/{enrolment_id}", headers=world.auth(who))
    assert response.status_code == 200, response.text
    return response.json()


async def complete(client, world, assignment_id, **extra: Any):
    response = await client.post(
        f"/v1/assignments/{assignment_id}/completions",
        headers=world.auth("client"),
        json={
            "completed_at": utcnow().isoformat(),
            "status": "done",
            "responses": THOUGHT_RECORD,
        }
        | extra,
    )
    assert response.status_code == 201, response.text
    return response.json()


def states(enrolment: dict[str, Any]) -> list[str]:
    return [s["state"] for s in enrolment["steps"]]


async def step_assignments(db, enrolment_id) -> list[Assignment]:
    await db.rollback()  # a fresh snapshot
    db.expunge_all()
    enrolment_id = uuid.UUID(str(enrolment_id))
    return list(
        (
            await db.execute(
                select(Assignment)
                .where(Assignment.enrolment_id == enrolment_id)
                .order_by(Assignment.created_at)
            )
        ).scalars()
    )


async def count_events(db, type_: str) -> int:
    await db.rollback()  # a fresh snapshot
    db.expunge_all()
    return int(await db.scalar(select(func.count()).select_from(Event).where(Event.type == type_)))


async def worker(app, now: datetime | None = None) -> int:
    return await release_due_steps(app.state.sessionmaker, now=now)


def later(days: int) -> datetime:
    return utcnow() + timedelta(days=days)
