"""Serialization failures and deadlocks are retried inside the request, a bounded number of times."""

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from app.goals.models import Goal


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"simulated {sqlstate}")
        self.sqlstate = sqlstate


def _failing(times: int, sqlstate: str | None, real, error=None):
    """`real`, failing its first `times` calls after it ran: with the SQLSTATE, or `error()`."""
    calls = {"n": 0}

    async def create_goal(session, principal, body):
        calls["n"] += 1
        goal = await real(session, principal, body)
        if calls["n"] <= times:
            if error is not None:
                raise error()
            raise OperationalError("INSERT INTO goal ...", {}, _PgError(sqlstate))
        return goal

    return create_goal, calls


async def _post_goal(client, world, title):
    return await client.post(
        "/v1/goals",
        headers=world.auth("therapist"),
        json={"client_id": str(world.client.id), "title": title},
    )


@pytest.mark.parametrize("sqlstate", ["40001", "40P01"])
async def test_a_transient_failure_is_retried_and_leaves_one_row(
    client, world, db, monkeypatch, sqlstate
):
    from app.goals import service

    fake, calls = _failing(2, sqlstate, service.create_goal)
    monkeypatch.setattr(service, "create_goal", fake)
    response = await _post_goal(client, world, "Retry me")
    assert response.status_code == 201 and calls["n"] == 3
    assert await db.scalar(select(func.count()).select_from(Goal)) == 1


async def test_retries_are_bounded(client, world, db, monkeypatch):
    from app.goals import service

    fake, calls = _failing(10, "40001", service.create_goal)
    monkeypatch.setattr(service, "create_goal", fake)
    response = await _post_goal(client, world, "Give up")
    assert response.status_code == 503 and calls["n"] == 3
    assert await db.scalar(select(func.count()).select_from(Goal)) == 0


@pytest.mark.parametrize(
    ("sqlstate", "status"),
    [("57P03", 503), ("57P01", 503), ("08006", 503), ("53300", 503), ("23514", 500)],
)
async def test_a_database_going_away_is_a_503_not_a_500(
    client, world, monkeypatch, sqlstate, status
):
    """asyncpg reports "the database system is shutting down" (57P03) and its kin as plain
    DBAPIErrors; they are outages (503 with Retry-After), unlike a real bug (500)."""
    from sqlalchemy.exc import DBAPIError

    from app.goals import service

    async def create_goal(session, principal, body):
        raise DBAPIError("SELECT 1", {}, _PgError(sqlstate))

    monkeypatch.setattr(service, "create_goal", create_goal)
    response = await client.post(
        "/v1/goals",
        headers=world.auth("therapist"),
        json={"client_id": str(world.client.id), "title": "Outage"},
    )
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert ("retry-after" in response.headers) == (status == 503)


def _dead_connection() -> OperationalError:
    return OperationalError(
        "SELECT ...", {}, ConnectionResetError("gone"), connection_invalidated=True
    )


async def test_a_connection_found_dead_is_retried_on_a_new_one(client, world, db, monkeypatch):
    # The pool does not ping before handing a connection out: a stale one (the server
    # restarted) shows as an invalidated connection.
    from app.goals import service

    fake, calls = _failing(1, None, service.create_goal, error=_dead_connection)
    monkeypatch.setattr(service, "create_goal", fake)
    response = await _post_goal(client, world, "After a restart")
    assert response.status_code == 201 and calls["n"] == 2
    assert await db.scalar(select(func.count()).select_from(Goal)) == 1


async def test_a_connection_lost_during_the_commit_is_not_run_again(client, world, db, monkeypatch):
    # The COMMIT may have reached the server: running the request again could do it twice.
    from app.core.unit_of_work import UnitOfWork
    from app.goals import service

    async def commit(self, response):
        raise _dead_connection()

    fake, calls = _failing(0, None, service.create_goal)
    monkeypatch.setattr(service, "create_goal", fake)
    monkeypatch.setattr(UnitOfWork, "_commit", commit)
    response = await _post_goal(client, world, "Once at most")
    assert response.status_code == 503 and calls["n"] == 1
    assert response.headers["retry-after"]
