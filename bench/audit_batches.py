"""Read audit by group commit under load: how many read-audit rows share one COMMIT (issue 14).

    python -m bench.audit_batches [--connections 32] [--seconds 10] [--app-root PATH]

A live uvicorn server (one worker, as `serve` runs it) on a throw-away PostgreSQL database
(`homework_bench_audit` on BENCH_POSTGRES_URL's server, made and dropped by the run), with the
login benchmark's clinic and users. `--connections` clients each send authenticated
`GET /v1/me` (an audited read) back to back for `--seconds`. Then the audit rows are counted
per writing transaction: rows written by one COMMIT share PostgreSQL's `xmin`, so
rows / distinct xmin is the average batch size of the group commit. Printed with requests/s
and the latency percentiles; also written to `bench/results/audit_batches.json`.
"""

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.common import RESULTS_DIR, server_url, split_url
from bench.login_burst import PASSWORD, READER, prepare, recreate_postgres, start_server

DATABASE = "homework_bench_audit"


async def _load(base: str, connections: int, seconds: float) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        login = await http.post(
            "/v1/auth/token",
            data={"grant_type": "password", "username": READER, "password": PASSWORD},
        )
        token = login.json()["access_token"]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        async with httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as http:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                response = await http.get("/v1/me")
                latencies.append((time.perf_counter() - started) * 1000)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests_per_second": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies), 1),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 1),
        "statuses": statuses,
    }


async def _batches(database_url: str) -> dict[str, Any]:
    admin_dsn, name = split_url(database_url)
    connection = await asyncpg.connect(admin_dsn.rsplit("/", 1)[0] + f"/{name}", timeout=10)
    try:
        row = await connection.fetchrow(
            "SELECT count(*) AS rows, count(DISTINCT xmin::text) AS commits "
            "FROM audit_event WHERE action = 'read'"
        )
    finally:
        await connection.close()
    rows, commits = int(row["rows"]), int(row["commits"])
    return {"read_rows": rows, "commits": commits, "rows_per_commit": round(rows / commits, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--app-root", type=Path, help="serve app/ from this tree instead")
    parser.add_argument("--pool-size", type=int, default=32, help="DB_POOL_SIZE of the server")
    args = parser.parse_args(argv)
    database_url = f"{server_url()}/{DATABASE}"
    asyncio.run(recreate_postgres(database_url, drop_only=False))
    try:
        prepare(database_url, 1)
        with tempfile.TemporaryDirectory(prefix="audit-batches-") as scratch:
            env = {"DB_POOL_SIZE": str(args.pool_size)}
            server = start_server(database_url, Path(scratch), args.app_root, env)
            try:
                server.wait_ready()
                result = asyncio.run(_load(server.base, args.connections, args.seconds))
            except BaseException:
                print(server.log_path.read_text()[-3000:], file=sys.stderr)
                raise
            finally:
                server.stop()
        result |= asyncio.run(_batches(database_url))
    finally:
        asyncio.run(recreate_postgres(database_url, drop_only=True))
    result["connections"] = args.connections
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "audit_batches.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
