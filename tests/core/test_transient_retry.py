"""Serialization failures and deadlocks are retried inside the request, a bounded number of times."""

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from app.goals.models import Goal


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"simulated {sqlstate}")
        self.sqlstate = sqlstate


def _failing(times: int, sqlstate: str, real):
    calls = {"n": 0}

    async def create_goal(session, principal, body):
        calls["n"] += 1
        goal = await real(session, principal, body)
        if calls["n"] <= times:
            raise OperationalError("INSERT INTO goal ...", {}, _PgError(sqlstate))
        return goal

    return create_goal, calls


@pytest.mark.parametrize("sqlstate", ["40001", "40P01"])
async def test_a_transient_failure_is_retried_and_leaves_one_row(
    client, world, db, monkeypatch, sqlstate
):
    from app.goals import service

    fake, calls = _failing(2, sqlstate, service.create_goal)
    monkeypatch.setattr(service, "create_goal", fake)
    response = await client.post(
        "/v1/goals",
        headers=world.auth("therapist"),
        json={"client_id": str(world.client.id), "title": "Retry me"},
    )
    assert response.status_code == 201 and calls["n"] == 3
    assert await db.scalar(select(func.count()).select_from(Goal)) == 1


async def test_retries_are_bounded(client, world, db, monkeypatch):
    from app.goals import service

    fake, calls = _failing(10, "40001", service.create_goal)
    monkeypatch.setattr(service, "create_goal", fake)
    response = await client.post(
        "/v1/goals",
        headers=world.auth("therapist"),
        json={"client_id": str(world.client.id), "title": "Give up"},
    )
    assert response.status_code == 503 and calls["n"] == 3
    assert await db.scalar(select(func.count()).select_from(Goal)) == 0
