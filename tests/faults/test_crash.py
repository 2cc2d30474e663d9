"""SIGKILL mid-burst: every acknowledged completion exists exactly once after a restart."""

import asyncio
import uuid

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from app.core.time import utcnow
from tests.live_server import Server, plain_env

REQUESTS = 200


async def _token(url: str) -> str:
    async with httpx.AsyncClient(base_url=url) as http:
        response = await http.post(
            "/v1/auth/token",
            data={
                "grant_type": "password",
                "username": "client1@demo.clinic",
                "password": "demo-password-1",
            },
        )
        return response.json()["access_token"]


async def _thought_record(url: str, token: str) -> str:
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {token}"}
    ) as http:
        items = (await http.get("/v1/assignments")).json()["items"]
    return next(a["id"] for a in items if a["template_kind"] == "cbt_worksheet")


def _body(completion_id: str) -> dict:
    return {
        "id": completion_id,
        "completed_at": utcnow().isoformat(),
        "status": "skipped",
        "skip_reason": "no_time",
    }


async def test_acknowledged_completions_survive_a_sigkill(demo_database):
    env = plain_env(demo_database, IDEMPOTENCY_IN_PROGRESS_SECONDS="2")
    server = Server(env).start()
    token = await _token(server.url)
    assignment = await _thought_record(server.url, token)
    ids = [str(uuid.uuid4()) for _ in range(REQUESTS)]
    bodies = {i: _body(i) for i in ids}
    acknowledged: dict[str, int] = {}
    answered = asyncio.Event()

    async def send(http: httpx.AsyncClient, completion_id: str) -> None:
        try:
            response = await http.post(
                f"/v1/assignments/{assignment}/completions",
                json=bodies[completion_id],
                headers={
                    "Authorization": f"Bearer {token}",
                    "Idempotency-Key": f"k-{completion_id}",
                },
            )
        except httpx.HTTPError:
            return  # no answer: the client will retry
        if response.status_code in (200, 201):
            assert response.json()["id"] == completion_id
            acknowledged[completion_id] = response.status_code
            if len(acknowledged) >= 40:
                answered.set()

    limits = httpx.Limits(max_connections=40)
    try:
        async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=30) as http:
            burst = asyncio.gather(*(send(http, i) for i in ids))
            await asyncio.wait_for(answered.wait(), timeout=60)
            server.kill()  # mid-burst: many requests are in flight
            await burst
        first_round = dict(acknowledged)
        assert 40 <= len(first_round) < REQUESTS, len(first_round)

        server = Server(env).start()  # same database, new process
        pending = [i for i in ids if i not in acknowledged]
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            for _ in range(40):
                await asyncio.gather(*(send(http, i) for i in pending))
                pending = [i for i in pending if i not in acknowledged]
                if not pending:
                    break
                await asyncio.sleep(0.5)  # in-progress claims of killed requests expire
        assert pending == []
    finally:
        server.stop()

    url = make_url(demo_database)
    connection = await asyncpg.connect(
        host=url.host, port=url.port, user=url.username, database=url.database
    )
    try:
        rows = await connection.fetch(
            "SELECT id::text AS id, count(*) OVER (PARTITION BY id) AS copies FROM completion "
            "WHERE id = ANY($1::uuid[])",
            ids,
        )
    finally:
        await connection.close()
    stored = {r["id"]: r["copies"] for r in rows}
    assert set(stored) == set(ids)  # every acknowledged (and retried) completion exists
    assert set(stored.values()) == {1}  # exactly once
    assert set(first_round) <= set(stored)
