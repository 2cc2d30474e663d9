"""Login burst: how much a flood of password logins delays an unrelated request (issue 13).

    python -m bench.login_burst [--logins 50] [--rounds 6] [--interval 0.02] [--threads N]
                                [--postgres] [--app-root PATH]

A live uvicorn server (one worker, uvloop, httptools, as `serve` runs it) on a free loopback
port, on a throw-away SQLite database in a temporary directory (with `--postgres`, a database
`homework_bench_login` made and dropped on BENCH_POSTGRES_URL's server), migrated by Alembic,
with one clinic and 51 active users. The authenticated `GET /v1/me` of one user is timed, open loop: one call
starts every `--interval` seconds whatever the earlier ones are doing, so a stalled event loop
shows as the many slow calls it causes. Two phases:

- quiet: `--quiet-seconds` of calls with nothing else going on;
- burst: `--logins` concurrent password logins of other users (each a correct password, so
  each verifies one argon2 hash and writes a refresh token), calls going on until the last
  login has answered.

Quiet and burst phases alternate `--rounds` times, so whatever else the machine does weighs on
both. Printed: p50 / p95 / max of `GET /v1/me` in each phase, their ratios and differences,
how long a burst took and how its logins answered. `--app-root` serves `app/` from another
tree (a copy of an earlier commit, for a before/after); the database is always prepared by this
tree. Figures go to stdout and `bench/results/login_burst.json`.
"""

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.common import RESULTS_DIR, machine, server_url, split_url
from bench.load.run_load import Server

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "burst-password-1"
READER = "reader@bench.example"
PG_DATABASE = "homework_bench_login"  # with --postgres; made and dropped by the run


def log(message: str) -> None:
    print(message, flush=True)


def prepare(database_url: str, logins: int) -> None:
    """Migrate the throw-away database and add a clinic, the reader and one user per login."""
    from app.auth.models import Role, User, UserStatus
    from app.cli import migrate_and_sync
    from app.clinics.models import Clinic
    from app.core.config import Settings
    from app.core.db import create_engine, create_sessionmaker
    from app.core.passwords import hash_password

    settings = Settings(_env_file=None, database_url=database_url, app_env="test")  # type: ignore[call-arg]
    migrate_and_sync(settings)

    async def people() -> None:
        password_hash = await hash_password(PASSWORD)
        engine = create_engine(settings)
        try:
            async with create_sessionmaker(engine)() as session, session.begin():
                clinic = Clinic(name="Bench Clinic", timezone="UTC")
                session.add(clinic)
                await session.flush()
                emails = [READER] + [f"login-{n}@bench.example" for n in range(logins)]
                for email in emails:
                    session.add(
                        User(
                            clinic_id=clinic.id,
                            role=Role.client,
                            email=email,
                            email_normalized=email,
                            display_name="Bench User",
                            timezone="UTC",
                            status=UserStatus.active,
                            password_hash=password_hash,
                        )
                    )
        finally:
            await engine.dispose()

    asyncio.run(people())


def start_server(
    database_url: str, log_dir: Path, app_root: Path | None, extra_env: dict[str, str]
) -> Server:
    """The app under uvicorn (one worker, uvloop, httptools, as the load benchmark serves it)
    on a free loopback port, with development settings and no rate limit."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("JWT_", "DB_", "RATE_LIMIT", "REDIS_", "LOGIN_", "PASSWORD_"))
        and k not in ("DATABASE_URL", "APP_ENV", "LOG_LEVEL")
    }
    env.update(
        {
            "APP_ENV": "development",
            "DATABASE_URL": database_url,
            "JWT_SECRET": secrets.token_urlsafe(48),
            "RATE_LIMIT_PER_MINUTE": "0",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
            **extra_env,
        }
    )
    return Server("app", 1, env, log_dir, app_root)


async def login(http: httpx.AsyncClient, email: str) -> httpx.Response:
    return await http.post(
        "/v1/auth/token",
        data={"grant_type": "password", "username": email, "password": PASSWORD},
    )


async def timed_me(http: httpx.AsyncClient, token: str) -> float:
    started = time.perf_counter()
    response = await http.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"GET /v1/me answered {response.status_code}: {response.text}")
    return elapsed * 1000


async def sampled_me(
    http: httpx.AsyncClient, token: str, until: Any, interval: float
) -> list[float]:
    """Open loop: a `GET /v1/me` every `interval` seconds, each timed on its own, until
    `until()` is true. A stalled server therefore shows as many slow calls, not as one slow
    call followed by a pause of the sampler (no coordinated omission)."""
    calls = []
    while not until():
        calls.append(asyncio.create_task(timed_me(http, token)))
        await asyncio.sleep(interval)
    return list(await asyncio.gather(*calls))


async def measure(
    base: str, logins: int, rounds: int, quiet_seconds: float, interval: float
) -> dict[str, Any]:
    timeout = httpx.Timeout(60)
    limits = httpx.Limits(max_connections=logins + 10, max_keepalive_connections=logins + 10)
    async with (
        httpx.AsyncClient(base_url=base, timeout=timeout, limits=limits) as reader,
        httpx.AsyncClient(base_url=base, timeout=timeout, limits=limits) as burst,
    ):
        first = await login(reader, READER)
        first.raise_for_status()
        token = first.json()["access_token"]
        for _ in range(10):  # warm-up: connections, caches, the first argon2 calls
            await timed_me(reader, token)
        await asyncio.gather(*(login(burst, f"login-{n}@bench.example") for n in range(4)))

        quiet: list[float] = []
        during: list[float] = []
        burst_seconds: list[float] = []
        statuses: Counter[int] = Counter()
        for round_no in range(1, rounds + 1):
            stop_at = time.monotonic() + quiet_seconds
            quiet += await sampled_me(
                reader, token, lambda stop_at=stop_at: time.monotonic() >= stop_at, interval
            )
            started = time.perf_counter()
            tasks = [
                asyncio.create_task(login(burst, f"login-{n}@bench.example")) for n in range(logins)
            ]
            samples = await sampled_me(
                reader, token, lambda tasks=tasks: all(t.done() for t in tasks), interval
            )
            during += samples
            answers = await asyncio.gather(*tasks)
            burst_seconds.append(time.perf_counter() - started)
            statuses.update(a.status_code for a in answers)
            log(
                f"  round {round_no}: burst {burst_seconds[-1]:.2f} s, {len(samples)} GET /v1/me "
                f"during it, logins {dict(Counter(a.status_code for a in answers))}"
            )
            await asyncio.sleep(0.2)
    return {
        "quiet": summary(quiet),
        "burst": summary(during),
        "burst_seconds": summary([s * 1000 for s in burst_seconds]),
        "login_statuses": {str(k): v for k, v in sorted(statuses.items())},
    }


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    return {
        "n": len(ordered),
        "p50": round(statistics.median(ordered), 1),
        "p95": pick(0.95),
        "max": round(ordered[-1], 1),
    }


def report(result: dict[str, Any]) -> str:
    q, b = result["quiet"], result["burst"]
    lines = [
        "GET /v1/me, ms     n     p50     p95     max",
        f"quiet          {q['n']:5d} {q['p50']:7.1f} {q['p95']:7.1f} {q['max']:7.1f}",
        f"during burst   {b['n']:5d} {b['p50']:7.1f} {b['p95']:7.1f} {b['max']:7.1f}",
        f"burst / quiet        {b['p50'] / q['p50']:7.2f} {b['p95'] / q['p95']:7.2f}",
        f"burst - quiet        {b['p50'] - q['p50']:7.1f} {b['p95'] - q['p95']:7.1f}",
        f"a burst took (ms): p50 {result['burst_seconds']['p50']}, "
        f"max {result['burst_seconds']['max']}; logins answered {result['login_statuses']}",
    ]
    return "\n".join(lines)


def serve_and_measure(
    database_url: str, scratch: Path, args: argparse.Namespace, extra_env: dict[str, str]
) -> dict[str, Any]:
    server = start_server(database_url, scratch, args.app_root, extra_env)
    try:
        server.wait_ready()
        load_before = os.getloadavg()[0]
        result = asyncio.run(
            measure(server.base, args.logins, args.rounds, args.quiet_seconds, args.interval)
        )
        result["load"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
        return result
    except BaseException:
        print(server.log_path.read_text()[-3000:], file=sys.stderr)
        raise
    finally:
        server.stop()


async def recreate_postgres(database_url: str, *, drop_only: bool) -> None:
    admin_dsn, name = split_url(database_url)
    connection = await asyncpg.connect(admin_dsn, timeout=10)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=50, help="concurrent logins per burst")
    parser.add_argument("--rounds", type=int, default=6, help="quiet + burst phases")
    parser.add_argument("--quiet-seconds", type=float, default=1.5, help="quiet phase length")
    parser.add_argument(
        "--interval", type=float, default=0.02, help="seconds between two GET /v1/me"
    )
    parser.add_argument("--app-root", type=Path, help="serve app/ from this tree instead")
    parser.add_argument("--threads", type=int, help="PASSWORD_HASH_THREADS for the server")
    parser.add_argument(
        "--postgres",
        action="store_true",
        help=f"PostgreSQL instead of SQLite: database {PG_DATABASE} on BENCH_POSTGRES_URL's "
        "server, made and dropped by the run",
    )
    args = parser.parse_args(argv)

    extra_env = {"PASSWORD_HASH_THREADS": str(args.threads)} if args.threads else {}
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="login-burst-") as scratch:
        database_url = f"sqlite+aiosqlite:///{scratch}/bench.db"
        if args.postgres:
            database_url = f"{server_url()}/{PG_DATABASE}"
            asyncio.run(recreate_postgres(database_url, drop_only=False))
        try:
            log(f"preparing {database_url} ({args.logins + 1} users)")
            prepare(database_url, args.logins)
            result = serve_and_measure(database_url, Path(scratch), args, extra_env)
        finally:
            if args.postgres:
                asyncio.run(recreate_postgres(database_url, drop_only=True))
    result.update(
        {
            "database": "postgresql" if args.postgres else "sqlite",
            "logins": args.logins,
            "rounds": args.rounds,
            "app_root": str(args.app_root or ROOT),
            "password_hash_threads": args.threads,
            "machine": machine(),
        }
    )
    log(report(result))
    log(f"load average {result['load'][0]} -> {result['load'][1]}")
    (RESULTS_DIR / "login_burst.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
