"""Helpers for the group tests: a group run by `therapist_other`, whom `client` (on
`therapist`'s care team, not theirs) and others join, and the group's homework."""

import uuid
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from app.assignments.models import Assignment
from app.core.time import local_day, utcnow
from app.templates.library import get_builtin
from app.templates.service import builtin_template_id

TR = str(builtin_template_id("thought-record"))
BREATHING = str(builtin_template_id("breathing-exercise"))
THOUGHT_RECORD = get_builtin("thought-record").realistic_example


def today_of(user) -> date:
    return local_day(utcnow(), user.timezone)


async def make_group(client, world, who: str = "therapist_other", **body: Any) -> dict[str, Any]:
    response = await client.post(
        "/v1/groups", headers=world.auth(who), json={"name": "DBT skills"} | body
    )
    assert response.status_code == 201, response.text
    return response.json()


async def join(
    client, world, group_id, member: str = "client", who: str = "admin", **body: Any
) -> dict[str, Any]:
    response = await client.post(
        f"/v1/groups/{group_id}/members",
        headers=world.auth(who),
        json={"client_id": str(world.users[member].id)} | body,
    )
    assert response.status_code == 201, response.text
    return response.json()


async def give(
    client, world, group_id, schedule: dict[str, Any] | None = None, **body: Any
) -> dict[str, Any]:
    """Daily thought records at 21:00 for four weeks from today (in each member's zone)."""
    start = utcnow().date() - timedelta(days=1)
    response = await client.post(
        f"/v1/groups/{group_id}/assignments",
        headers=world.auth("therapist_other"),
        json={
            "template_id": TR,
            "schedule": schedule
            or {
                "start_date": start.isoformat(),
                "end_date": (start + timedelta(days=28)).isoformat(),
                "rrule": "FREQ=DAILY",
                "times": ["21:00"],
            },
        }
        | body,
    )
    assert response.status_code == 201, response.text
    return response.json()


async def assignments_of(db, homework_id) -> list[Assignment]:
    await db.rollback()  # a fresh snapshot
    db.expunge_all()
    homework_id = uuid.UUID(str(homework_id))
    return list(
        await db.scalars(
            select(Assignment)
            .where(Assignment.group_assignment_id == homework_id)
            .order_by(Assignment.created_at)
        )
    )


async def complete(client, world, assignment_id, who: str = "client", **extra: Any):
    response = await client.post(
        f"/v1/assignments/{assignment_id}/completions",
        headers=world.auth(who),
        json={"completed_at": utcnow().isoformat(), "status": "done", "responses": THOUGHT_RECORD}
        | extra,
    )
    assert response.status_code == 201, response.text
    return response.json()
