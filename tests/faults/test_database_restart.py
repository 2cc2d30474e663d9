"""PostgreSQL restarts during a burst: 503 with Retry-After meanwhile, normal service after."""

import asyncio
import os
import shutil
import subprocess
import time

import httpx
import pytest

from tests.live_server import Server, plain_env


def _cluster(action: str) -> None:
    versions = os.listdir("/etc/postgresql")
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", versions[0], "main", action],
        check=True,
        capture_output=True,
        timeout=60,
    )


@pytest.fixture
def restartable():
    if shutil.which("pg_ctlcluster") is None or not os.path.isdir("/etc/postgresql"):
        pytest.skip("needs a local PostgreSQL cluster managed by pg_ctlcluster")
    yield
    # Whatever happened, leave PostgreSQL running (starting a running cluster is an error).
    if subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"], check=False).returncode != 0:
        _cluster("start")


async def test_an_outage_answers_503_and_service_returns_without_a_restart(
    demo_database, restartable
):
    server = Server(plain_env(demo_database, DB_POOL_TIMEOUT_SECONDS="3")).start()
    token = (
        httpx.post(
            f"{server.url}/v1/auth/token",
            data={
                "grant_type": "password",
                "username": "therapist@demo.clinic",
                "password": "demo-password-1",
            },
        ).json()
    )["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    outcomes: list[tuple[int, float]] = []
    stop = asyncio.Event()

    async def burst() -> None:
        async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as http:
            while not stop.is_set():
                started = time.monotonic()
                response = await http.get("/v1/clients")
                outcomes.append((response.status_code, time.monotonic() - started))
                if response.status_code == 503:
                    assert response.headers["retry-after"]
                    assert response.headers["content-type"] == "application/problem+json"
                await asyncio.sleep(0.05)

    try:
        load = asyncio.create_task(burst())
        await asyncio.sleep(1)
        await asyncio.to_thread(_cluster, "stop")
        await asyncio.sleep(3)
        await asyncio.to_thread(_cluster, "start")
        back = time.monotonic()
        recovered_after = None
        while time.monotonic() - back < 30:
            await asyncio.sleep(0.5)
            if outcomes and outcomes[-1][0] == 200 and any(s == 503 for s, _ in outcomes):
                recovered_after = time.monotonic() - back
                break
        stop.set()
        await load
    finally:
        server.stop()
    statuses = {s for s, _ in outcomes}
    assert 503 in statuses, "the outage was not noticed"
    assert statuses <= {200, 503}, statuses  # never a 500
    assert max(d for _, d in outcomes) < 15, "a request hung during the outage"
    assert recovered_after is not None and recovered_after < 30
