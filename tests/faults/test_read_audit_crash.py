"""SIGKILL during a burst of reads: every read that was answered 200 has its audit row, because
a read answers only once the group commit holding its row is durable."""

import asyncio

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from tests.live_server import Server, plain_env

REQUESTS = 300


async def test_every_read_answered_before_a_sigkill_has_its_audit_row(demo_database):
    server = Server(plain_env(demo_database)).start()
    async with httpx.AsyncClient(base_url=server.url) as http:
        login = await http.post(
            "/v1/auth/token",
            data={
                "grant_type": "password",
                "username": "therapist@demo.clinic",
                "password": "demo-password-1",
            },
        )
        token = login.json()["access_token"]
    answered: list[str] = []
    enough = asyncio.Event()

    async def read(http: httpx.AsyncClient, n: int) -> None:
        request_id = f"read-{n:04d}"
        try:
            response = await http.get(
                "/v1/goals",
                headers={"Authorization": f"Bearer {token}", "X-Request-ID": request_id},
            )
        except httpx.HTTPError:
            return  # no answer: nothing was disclosed
        if response.status_code == 200:
            answered.append(request_id)
            if len(answered) >= 60:
                enough.set()

    try:
        limits = httpx.Limits(max_connections=40)
        async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=30) as http:
            burst = asyncio.gather(*(read(http, n) for n in range(REQUESTS)))
            await asyncio.wait_for(enough.wait(), timeout=60)
            server.kill()  # mid-burst: reads are in flight, some rows in an uncommitted batch
            await burst
    finally:
        server.stop()
    assert 60 <= len(answered) < REQUESTS, len(answered)

    url = make_url(demo_database)
    connection = await asyncpg.connect(
        host=url.host, port=url.port, user=url.username, database=url.database
    )
    try:
        rows = await connection.fetch(
            "SELECT request_id FROM audit_event WHERE request_id = ANY($1::text[])", answered
        )
    finally:
        await connection.close()
    assert {r["request_id"] for r in rows} == set(answered)
