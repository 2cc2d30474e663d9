"""PostgreSQL restarts during a burst: 503 with Retry-After meanwhile, normal service after.\n\nThe cluster that restarts is the test's own (a throwaway initdb on a free port), never the\nmachine's."""

import asyncio
import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from tests.live_server import Server, cli, free_port, plain_env


class ThrowawayCluster:
    """A PostgreSQL cluster of the test's own (initdb in a temporary folder, a free port), so
    that stopping it interrupts nobody else. Run as the `postgres` user when the test runs as
    root (initdb refuses root)."""

    def __init__(self, bindir: Path, folder: Path) -> None:
        self.bindir, self.folder = bindir, folder
        self.data, self.port = folder / "data", free_port()
        self.log = folder / "postgres.log"

    def _run(self, *args: str) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def create(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"


def _postgres_bindir() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@pytest.fixture
def cluster():
    bindir = _postgres_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL's server binaries (initdb, pg_ctl) are not installed")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: initdb cannot run")
    folder = Path(tempfile.mkdtemp(prefix="pg-fault-", dir="/tmp"))
    own = ThrowawayCluster(bindir, folder)
    try:
        own.create()
        own.start()
        yield own
    finally:
        with contextlib.suppress(subprocess.SubprocessError):
            own.stop()
        shutil.rmtree(folder, ignore_errors=True)


async def test_an_outage_answers_503_and_service_returns_without_a_restart(cluster):
    env = plain_env(cluster.url, DB_POOL_TIMEOUT_SECONDS="3")
    cli(env, "migrate")
    cli(env, "seed-demo")
    server = Server(env).start()
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
        await asyncio.to_thread(cluster.stop)
        await asyncio.sleep(3)
        await asyncio.to_thread(cluster.start)
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
