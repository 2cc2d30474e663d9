"""Load benchmark: the API under `wrk`, next to three baseline apps, for one and two workers.

    python -m bench.load.run_load [--duration 10] [--warmup 3] [--workers 1,2] [--quick]

Steps (all on this machine, loopback only):

1. The metrics dataset `homework_bench_1m` (bench.generate; made by bench.run's
   `ensure_datasets` when it is missing) is copied to `homework_bench_load` with
   `CREATE DATABASE ... TEMPLATE` (a file copy, a few seconds), so that the writes and audit
   rows of a load run never touch the dataset the metrics benchmark checks and measures.
2. Into the copy: 100,000 `completion.created` events of the first clinic in the outbox (the
   generator loads rows with COPY, so its dataset has no events), each payload the app's own
   `CompletionRead` of a stored completion; and the `bench_load_write` table of baseline W.
3. For each worker count, four servers one after the other, each under uvicorn with the same
   flags (`--loop uvloop --http httptools --no-access-log --log-level warning --workers N`),
   the same environment (APP_ENV=development, DATABASE_URL, RATE_LIMIT_PER_MINUTE=0,
   DB_POOL_SIZE/DB_MAX_OVERFLOW, one JWT secret): baseline A, B, W (bench/load/baselines.py)
   and the app (`app.main:create_app`). Each scenario: one checked request, a warm-up, then
   a measured `wrk --latency` run with bench/load/lua/requests.lua replaying a request list;
   server RSS (VmRSS of every worker) and CPU sampled from /proc meanwhile.
4. One table with req/s, p50, p99 and the ratios to A, B and W of the same worker count, the
   targets, and bench/results/load.json.

Tokens: the therapist's and the admin's come from the real token endpoint (the generator
gives every user the password `bench-password-1`); client tokens, a few thousand of them, are
minted in-process with `app.auth.tokens.user_access_token` and the servers' JWT settings
(an argon2 login each would take minutes).
"""

import argparse
import asyncio
import json
import os
import random
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx

from bench.common import (
    RESULTS_DIR,
    dataset_url,
    machine,
    plain_dsn,
    read_manifest,
    server_url,
    server_version,
    split_url,
)

LOAD_DIR = Path(__file__).resolve().parent
ROOT = LOAD_DIR.parent.parent
LUA_SCRIPT = LOAD_DIR / "lua" / "requests.lua"
SOURCE_DATASET = "1m"
LOAD_DATABASE = "homework_bench_load"
PASSWORD = "bench-password-1"  # bench.generate.PASSWORD
JWT_SECRET = "bench-load-only-jwt-secret-4c1f0b2a9e7d41c6b8a5"
JWT = {
    "JWT_ALGORITHM": "HS256",
    "JWT_ISSUER": "homework-api",
    "JWT_AUDIENCE": "homework-api",
    "ACCESS_TOKEN_TTL_SECONDS": "900",
}
EVENTS = 100_000
POSTERS = 500
# A run during which other processes (not the server, its PostgreSQL backends or wrk) used more
# than this many cores is noisy: flagged, and with --noise-retries measured again (the quieter
# attempt kept; pointless when the noise lasts, so off by default).
NOISE_CORES = 0.25
POSTERS_SEED = 20261126
PAGE = 1000
THOUGHT_RECORD = "thought-record"

TARGETS = {
    # Issue 14: reads at 0.8 x B (B reads one table; a read of the app also checks the
    # principal, reads several tables and awaits its audit row's group commit).
    "reads_ratio_to_b_min": 0.8,
    "reads_p99_over_p50_max": 5.0,
    "completion_ratio_to_w_min": 0.6,
    "changes_events_per_s_min": 20_000,
    "rss_mb_per_worker_max": 200,
}
READS = ("agenda", "assignments")


def log(message: str) -> None:
    print(message, flush=True)


# --------------------------------------------------------------------------- scenarios


@dataclass
class Scenario:
    name: str
    server: str  # A, B, W or app
    what: str
    expect: int = 200
    connections: int | None = None  # None: --connections
    timeout_s: int = 10
    events_per_request: int | None = None
    lines: list[str] = field(default_factory=list)


def scenarios() -> list[Scenario]:
    return [
        Scenario("A", "A", "GET /a: static JSON, no auth, no database"),
        Scenario("B", "B", "GET /b: JWT + 20 completions by indexed client_id + response model"),
        Scenario("W", "W", "POST /w: as B + Pydantic body + one INSERT + COMMIT", expect=201),
        Scenario("agenda", "app", "GET /v1/me/agenda, client tokens (default 7-day window)"),
        Scenario(
            "assignments",
            "app",
            "GET /v1/assignments?client_id=, the therapist of 200 clients",
        ),
        Scenario(
            "completion",
            "app",
            "POST /v1/assignments/{id}/completions, client tokens, a new UUID per request",
            expect=201,
        ),
        Scenario("metrics", "app", "GET /v1/clients/{id}/metrics, the therapist's 200 clients"),
        Scenario(
            "caseload",
            "app",
            "GET /v1/caseload, the therapist of 200 clients (4 connections)",
            connections=4,
            timeout_s=30,
        ),
        Scenario(
            "changes",
            "app",
            f"GET /v1/changes?cursor=&limit={PAGE}, admin, 100 fixed cursors",
            events_per_request=PAGE,
        ),
    ]


def line(method: str, path: str, token: str | None = None, body: str | None = None) -> str:
    for part in (path, token or "", body or ""):
        assert "\t" not in part and "\n" not in part
    return f"{method}\t{path}\t{token or '-'}\t{body or '-'}"


# --------------------------------------------------------------------------- the database


def load_url() -> str:
    return f"{server_url()}/{LOAD_DATABASE}"


def ensure_source() -> dict[str, Any]:
    """The metrics dataset's manifest; generated (bench.run's own check) when it is missing."""
    manifest = asyncio.run(read_manifest(dataset_url(SOURCE_DATASET)))
    if manifest is None:
        log(f"dataset homework_bench_{SOURCE_DATASET} is missing: generating the metrics datasets")
        from bench.run import ensure_datasets

        ensure_datasets(False)
        manifest = asyncio.run(read_manifest(dataset_url(SOURCE_DATASET)))
        if manifest is None:
            raise SystemExit("the dataset could not be generated")
    return manifest


async def copy_dataset() -> float:
    """DROP and CREATE homework_bench_load as a file copy of the dataset; seconds taken."""
    admin_dsn, source = split_url(dataset_url(SOURCE_DATASET))
    started = time.perf_counter()
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{LOAD_DATABASE}" WITH (FORCE)')
        deadline = time.monotonic() + 120
        waited = False
        while True:
            try:
                await conn.execute(
                    f'CREATE DATABASE "{LOAD_DATABASE}" TEMPLATE "{source}" STRATEGY FILE_COPY'
                )
                break
            except asyncpg.ObjectInUseError:
                if not waited:
                    log(f"  {source} is in use by another session; waiting for it to be idle")
                    waited = True
                # Someone (the metrics benchmark, a test) is connected to the dataset: a
                # template copy needs it idle for a moment. Wait; never disconnect them.
                if time.monotonic() > deadline:
                    raise SystemExit(
                        f"{source} stayed in use for 2 minutes; cannot copy it for the load run"
                    ) from None
                await asyncio.sleep(1)
    finally:
        await conn.close()
    return time.perf_counter() - started


async def drop_copy() -> None:
    admin_dsn, _ = split_url(dataset_url(SOURCE_DATASET))
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{LOAD_DATABASE}" WITH (FORCE)')
    finally:
        await conn.close()


async def seed_events(conn: asyncpg.Connection, clinic_id: uuid.UUID) -> int:
    """The latest EVENTS completions of the clinic as completion.created events, in order,
    each payload exactly what the app would have written (its own CompletionRead)."""
    from app.completions.schemas import CompletionRead
    from app.core.ids import new_id

    columns = list(CompletionRead.model_fields)
    rows = await conn.fetch(
        f"SELECT {', '.join(columns)} FROM completion WHERE clinic_id = $1 "
        "ORDER BY created_at DESC LIMIT $2",
        clinic_id,
        EVENTS,
    )
    records = []
    for sequence, row in enumerate(reversed(rows), start=1):
        values = dict(row)
        for key in ("responses", "score"):
            if isinstance(values[key], str):
                values[key] = json.loads(values[key])
        read = CompletionRead.model_validate(values)
        records.append(
            (
                sequence,
                new_id(),
                "completion.created",
                "completion",
                read.id,
                read.clinic_id,
                read.client_id,
                read.created_at,
                json.dumps(read.model_dump(mode="json"), separators=(",", ":")),
            )
        )
    await conn.execute("TRUNCATE event")
    await conn.copy_records_to_table(
        "event",
        records=records,
        columns=[
            "sequence",
            "id",
            "type",
            "resource_type",
            "resource_id",
            "clinic_id",
            "client_id",
            "occurred_at",
            "payload",
        ],
    )
    # The clinic's counter at its last event, as the outbox would have left it.
    await conn.execute("TRUNCATE event_counter")
    await conn.execute(
        "INSERT INTO event_counter (clinic_id, last_sequence) VALUES ($1, $2)",
        clinic_id,
        len(records),
    )
    await conn.execute("VACUUM (ANALYZE) event")
    return len(records)


async def seed_first_achievements(conn: asyncpg.Connection) -> int:
    """What the app would have awarded for the generated history: `first_completion` and
    `first_of_kind:<kind>` for every client with a done completion (the generator loads rows
    with COPY and awards nothing, so every POST would otherwise be a client's first)."""
    from app.completions.achievements import KIND_TITLES

    await conn.execute(
        """
        INSERT INTO achievement (id, clinic_id, client_id, type, key, title, refers_to_type,
                                 refers_to_id, earned_at, created_at, updated_at)
        SELECT gen_random_uuid(), clinic_id, client_id, 'first_completion', 'first_completion',
               'First homework done', 'completion', id, created_at, created_at, created_at
        FROM (SELECT DISTINCT ON (client_id) * FROM completion WHERE status = 'done'
              ORDER BY client_id, created_at) first
        ON CONFLICT DO NOTHING
        """
    )
    await conn.execute(
        """
        INSERT INTO achievement (id, clinic_id, client_id, type, key, title, refers_to_type,
                                 refers_to_id, earned_at, created_at, updated_at)
        SELECT gen_random_uuid(), clinic_id, client_id, 'first_of_kind',
               'first_of_kind:' || template_kind,
               coalesce(($1::jsonb)->>template_kind::text, 'First of its kind'),
               'completion', id, created_at, created_at, created_at
        FROM (SELECT DISTINCT ON (client_id, template_kind) * FROM completion
              WHERE status = 'done' ORDER BY client_id, template_kind, created_at) first
        ON CONFLICT DO NOTHING
        """,
        json.dumps(KIND_TITLES),
    )
    return int(await conn.fetchval("SELECT count(*) FROM achievement"))


async def seed_streaks(clients: list[tuple[uuid.UUID, uuid.UUID, str]]) -> int:
    """Streak achievements the clients that will post have earned so far: every threshold up
    to their longest streak, computed with the app's own day rules (app.completions.days)."""
    from sqlalchemy import insert
    from sqlalchemy.ext.asyncio import create_async_engine

    import app.models  # noqa: F401  (every table, so the ORM can resolve foreign keys)
    from app.completions.achievements import STREAKS
    from app.completions.days import client_days, streaks
    from app.completions.models import Achievement, AchievementType
    from app.core.db import create_sessionmaker
    from app.core.ids import new_id

    engine = create_async_engine(load_url())
    rows = []
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            for client_id, clinic_id, zone in clients:
                today = datetime.now(UTC).astimezone(ZoneInfo(zone)).date()
                start = today - timedelta(days=800)
                days = await client_days(session, client_id, start, today)
                if not days:
                    continue
                _, longest, _ = streaks(days, min(days), today, today)
                now = datetime.now(UTC)
                rows += [
                    {
                        "id": new_id(),
                        "clinic_id": clinic_id,
                        "client_id": client_id,
                        "type": AchievementType.streak,
                        "key": f"streak:{n}",
                        "title": f"{n}-day streak",
                        "earned_at": now,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for n in STREAKS
                    if longest >= n
                ]
            if rows:
                await session.execute(insert(Achievement), rows)
    finally:
        await engine.dispose()
    return len(rows)


@dataclass
class Fixtures:
    clinic_id: uuid.UUID
    therapist: SimpleNamespace
    admin: SimpleNamespace
    caseload: list[uuid.UUID]
    # Clients with an active, unpaused daily thought record: (user, assignment id, zone).
    writers: list[tuple[SimpleNamespace, uuid.UUID, str]]
    posters: list[tuple[SimpleNamespace, uuid.UUID, str]]  # the writers that POST completions
    events: int
    event_cursors: list[int]
    template_id: uuid.UUID


async def prepare(manifest: dict[str, Any], seed: bool = True) -> Fixtures:
    from app.auth.models import Role
    from app.templates.service import builtin_template_id
    from bench.load.baselines import WRITE_TABLE_DDL

    clinic_id = uuid.UUID(manifest["bench_clinic_id"])
    therapist_id = uuid.UUID(manifest["bench_therapist_id"])
    thought = builtin_template_id(THOUGHT_RECORD)
    conn = await asyncpg.connect(plain_dsn(load_url()))
    try:
        await conn.execute(WRITE_TABLE_DDL)

        async def user(where: str, *args: Any) -> SimpleNamespace:
            row = await conn.fetchrow(
                f'SELECT id, clinic_id, role, email, timezone FROM "user" WHERE {where}', *args
            )
            if row is None:
                raise SystemExit(f"the dataset has no user where {where} {args}")
            return SimpleNamespace(**dict(row), role_enum=Role(row["role"]))

        therapist = await user("id = $1", therapist_id)
        admin = await user("clinic_id = $1 AND role = 'admin' ORDER BY email LIMIT 1", clinic_id)
        caseload = [
            r["client_id"]
            for r in await conn.fetch(
                "SELECT client_id FROM care_team_member WHERE therapist_id = $1 ORDER BY client_id",
                therapist_id,
            )
        ]
        rows = await conn.fetch(
            """
            SELECT u.id, u.clinic_id, u.role, u.email, u.timezone,
                   a.id AS assignment_id, a.schedule->>'timezone' AS zone
            FROM assignment a JOIN "user" u ON u.id = a.client_id
            WHERE a.template_id = $1 AND a.status = 'active'
              AND u.status = 'active' AND u.role = 'client'
              AND a.first_date <= current_date - 20
              AND (a.last_date IS NULL OR a.last_date >= current_date + 1)
              AND NOT EXISTS (SELECT 1 FROM assignment_pause p WHERE p.assignment_id = a.id)
            ORDER BY u.id
            """,
            thought,
        )
        writers = [
            (
                SimpleNamespace(
                    id=r["id"],
                    clinic_id=r["clinic_id"],
                    role=r["role"],
                    email=r["email"],
                    timezone=r["timezone"],
                    role_enum=Role(r["role"]),
                ),
                r["assignment_id"],
                r["zone"],
            )
            for r in rows
        ]
        # The clients that post completions: a fixed few hundred, each with its history's
        # achievements, so that a POST earns what a real client's next completion would.
        posters = random.Random(POSTERS_SEED).sample(writers, min(POSTERS, len(writers)))
        if seed:
            t = time.perf_counter()
            streak_rows = await seed_streaks([(w.id, w.clinic_id, z) for w, _, z in posters])
            log(
                f"  {streak_rows:,} streak achievements of the {len(posters)} posting clients "
                f"({time.perf_counter() - t:.1f} s)"
            )
            t = time.perf_counter()
            events = await seed_events(conn, clinic_id)
            took = time.perf_counter() - t
            log(f"  {events:,} completion.created events in the outbox ({took:.1f} s)")
            t = time.perf_counter()
            firsts = await seed_first_achievements(conn)
            log(f"  {firsts:,} first-completion achievements ({time.perf_counter() - t:.1f} s)")
            await conn.execute("ANALYZE")
        else:
            events = await conn.fetchval(
                "SELECT count(*) FROM event WHERE clinic_id = $1 AND sequence <= $2",
                clinic_id,
                EVENTS,
            )
    finally:
        await conn.close()
    if len(writers) < 100 or len(caseload) < 10:
        raise SystemExit(
            f"the dataset has too few clients in treatment ({len(writers)}) or caseload "
            f"({len(caseload)}) for a load run"
        )
    cursors = list(range(0, max(1, events - PAGE + 1), PAGE))
    return Fixtures(
        clinic_id, therapist, admin, caseload, writers, posters, events, cursors, thought
    )


# --------------------------------------------------------------------------- tokens and lists


def codec() -> Any:
    from app.core.config import Settings
    from app.core.jwt import JwtCodec

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        jwt_secret=JWT_SECRET,
        jwt_algorithm="HS256",
        jwt_issuer=JWT["JWT_ISSUER"],
        jwt_audience=JWT["JWT_AUDIENCE"],
        access_token_ttl_seconds=int(JWT["ACCESS_TOKEN_TTL_SECONDS"]),
    )
    return JwtCodec(settings), settings


def mint(users: list[SimpleNamespace]) -> dict[uuid.UUID, str]:
    from app.auth.principal import ROLE_SCOPES
    from app.auth.tokens import user_access_token

    jwt_codec, settings = codec()
    return {
        u.id: user_access_token(
            jwt_codec,
            settings,
            SimpleNamespace(id=u.id, clinic_id=u.clinic_id, role=u.role_enum),
            ROLE_SCOPES[u.role_enum],
        )
        for u in users
    }


def login(base: str, who: SimpleNamespace) -> str:
    """A real password grant through the token endpoint."""
    answer = httpx.post(
        f"{base}/v1/auth/token",
        data={"grant_type": "password", "username": who.email, "password": PASSWORD},
        timeout=30,
    )
    if answer.status_code != 200:
        log(f"  login of {who.email} answered {answer.status_code}; minting its token instead")
        return mint([who])[who.id]
    return str(answer.json()["access_token"])


def completion_body(zone: str, day: date, example: dict[str, Any]) -> str:
    completed = datetime.combine(day, dtime(20, 30), tzinfo=ZoneInfo(zone))
    return json.dumps(
        {
            "id": "{uuid}",
            "completed_at": completed.isoformat(),
            "status": "done",
            "responses": example,
            "mood_before": 3,
            "mood_after": 6,
            "discomfort": 40,
            "duration_minutes": 15,
            "note": "Caught the thought earlier today.",
        },
        separators=(",", ":"),
    )


def build_lists(
    fx: Fixtures, therapist_token: str, admin_token: str, rng: random.Random
) -> dict[str, list[str]]:
    from app.core.pagination import encode_cursor
    from app.templates.library import get_builtin

    example = get_builtin(THOUGHT_RECORD).realistic_example
    writers = rng.sample(fx.writers, min(len(fx.writers), 2000))
    tokens = mint([w for w, _, _ in writers])
    lists: dict[str, list[str]] = {"A": [line("GET", "/a")]}
    lists["B"] = [line("GET", "/b", tokens[w.id]) for w, _, _ in writers]
    lists["W"] = [
        line("POST", "/w", tokens[w.id], '{"id":"{uuid}","note":"baseline write"}')
        for w, _, _ in writers
    ]
    lists["agenda"] = [line("GET", "/v1/me/agenda", tokens[w.id]) for w, _, _ in writers]
    caseload = list(fx.caseload)
    rng.shuffle(caseload)
    lists["assignments"] = [
        line("GET", f"/v1/assignments?client_id={c}", therapist_token) for c in caseload
    ]
    lists["metrics"] = [line("GET", f"/v1/clients/{c}/metrics", therapist_token) for c in caseload]
    lists["caseload"] = [line("GET", "/v1/caseload", therapist_token)]
    cursors = list(fx.event_cursors)
    rng.shuffle(cursors)
    lists["changes"] = [
        line("GET", f"/v1/changes?cursor={encode_cursor([c])}&limit={PAGE}", admin_token)
        for c in cursors
    ]
    now = datetime.now(UTC)
    posts = []
    poster_tokens = mint([w for w, _, _ in fx.posters])
    for w, assignment_id, zone in fx.posters:
        today = now.astimezone(ZoneInfo(zone)).date()
        for back in range(1, 15):
            posts.append(
                line(
                    "POST",
                    f"/v1/assignments/{assignment_id}/completions",
                    poster_tokens[w.id],
                    completion_body(zone, today - timedelta(days=back), example),
                )
            )
    rng.shuffle(posts)
    lists["completion"] = posts
    return lists


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(pool_size: int, overflow: int) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("JWT_", "DB_", "RATE_LIMIT", "REDIS_", "WORKER_"))
        and k not in ("DATABASE_URL", "APP_ENV", "LOG_LEVEL", "ACCESS_TOKEN_TTL_SECONDS")
    }
    env.update(
        {
            "APP_ENV": "development",
            "DATABASE_URL": load_url(),
            "RATE_LIMIT_PER_MINUTE": "0",
            "DB_POOL_SIZE": str(pool_size),
            "DB_MAX_OVERFLOW": str(overflow),
            "JWT_SECRET": JWT_SECRET,
            "LOG_LEVEL": "INFO",  # the app's default: one JSON access line per request
            "PYTHONUNBUFFERED": "1",
            **JWT,
        }
    )
    return env


TARGETS_OF = {
    "A": "bench.load.baselines:create_a",
    "B": "bench.load.baselines:create_b",
    "W": "bench.load.baselines:create_w",
    "app": "app.main:create_app",
}


class Server:
    def __init__(
        self,
        kind: str,
        workers: int,
        env: dict[str, str],
        log_dir: Path,
        app_root: Path | None = None,
    ) -> None:
        self.kind = kind
        self.workers = workers
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"server-{kind}-w{workers}.log"
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            TARGETS_OF[kind],
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(workers),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        self.command = command
        self._log = self.log_path.open("w")
        # The app can be served from another tree (a scratch copy with a change to measure):
        # its working directory comes first on sys.path, before the editable install.
        cwd = app_root if kind == "app" and app_root else ROOT
        self.process = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
            command,
            cwd=cwd,
            env={**env, "PYTHONPATH": str(cwd)},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        ok = 0
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.kind} server exited; see {self.log_path}")
            try:
                if httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    ok += 1
                    # With two workers, wait until both processes are up and answering.
                    if ok >= 3 and len(self.worker_pids()) >= self.workers:
                        return
                    time.sleep(0.2)
                    continue
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        raise RuntimeError(f"{self.kind} server not ready in {timeout} s; see {self.log_path}")

    def worker_pids(self) -> list[int]:
        """The processes that serve requests: the server itself with one worker, else its
        spawned children (not the supervisor, not multiprocessing's resource tracker)."""
        if self.workers == 1:
            return [self.process.pid]
        found = []
        for pid in descendants(self.process.pid):
            cmd = cmdline(pid)
            if "multiprocessing" in cmd and "resource_tracker" not in cmd:
                found.append(pid)
        return found

    def all_pids(self) -> list[int]:
        return [self.process.pid, *descendants(self.process.pid)]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)  # the group this server leads
                self.process.wait(10)
        self._log.close()


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def rss_mb(pid: int) -> float:
    try:
        for text in Path(f"/proc/{pid}/status").read_text().splitlines():
            if text.startswith("VmRSS:"):
                return int(text.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def busy_seconds() -> float:
    """CPU seconds the whole machine spent busy since boot (all cores, /proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / CLOCK_TICKS


def load_backends() -> list[int]:
    """PostgreSQL backends connected to the load database (their process titles name it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and f" {LOAD_DATABASE} " in cmdline(int(entry.name)):
            found.append(int(entry.name))
    return found


class Sampler:
    """While a run lasts: peak RSS per worker and in total (every 200 ms), and CPU seconds of
    the server, of its PostgreSQL backends, of wrk, and of everything else on the machine (the
    noise: other people's processes on a shared machine)."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.pids = server.worker_pids()
        self.everyone = server.all_pids()
        self.peak_worker = 0.0
        self.peak_total = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        per = [rss_mb(p) for p in self.pids]
        self.peak_worker = max(self.peak_worker, max(per, default=0.0))
        self.peak_total = max(self.peak_total, sum(rss_mb(p) for p in self.everyone))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(0.2)

    def __enter__(self) -> "Sampler":
        self.pg0 = {pid: cpu_seconds([pid]) for pid in load_backends()}
        self.cpu0 = cpu_seconds(self.everyone)
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.wrk0 = usage.ru_utime + usage.ru_stime
        self.busy0 = busy_seconds()
        self.t0 = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        busy = busy_seconds() - self.busy0
        elapsed = time.monotonic() - self.t0
        self.cpu = cpu_seconds(self.everyone) - self.cpu0
        # Backends that lived through the run count their difference, new ones all they used.
        self.pg = sum(cpu_seconds([pid]) - self.pg0.get(pid, 0.0) for pid in load_backends())
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.wrk = usage.ru_utime + usage.ru_stime - self.wrk0
        self.other_cores = max(0.0, (busy - self.cpu - self.pg - self.wrk) / elapsed)
        self.busy_cores = busy / elapsed
        self._stop.set()
        self._thread.join()
        self._sample()


# --------------------------------------------------------------------------- wrk


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def parse_wrk(text: str) -> dict[str, Any]:
    """req/s, p50 and p99 (ms) and errors from wrk's --latency text, plus the script's summary."""
    out: dict[str, Any] = {}
    if m := re.search(r"Requests/sec:\s+([\d.]+)", text):
        out["rps"] = float(m.group(1))
    for pct in ("50", "75", "90", "99"):
        if m := re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M):
            out[f"p{pct}_ms"] = round(float(m.group(1)) * _UNITS[m.group(2)], 3)
    if m := re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", text):
        out["requests"] = int(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    out["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    out["socket_errors"] = sum(int(g) for g in m.groups()) if m else 0
    if m := re.search(r"^LOADJSON (.*)$", text, re.M):
        out["summary"] = json.loads(m.group(1))
    return out


def run_wrk(
    base: str, list_path: Path, seconds: float, threads: int, connections: int, timeout_s: int
) -> tuple[str, dict[str, Any]]:
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
        f"--timeout={timeout_s}s",
        "-s",
        str(LUA_SCRIPT),
        base,
        "--",
        str(list_path),
    ]
    done = subprocess.run(  # noqa: S603
        command, capture_output=True, text=True, timeout=seconds + timeout_s + 60, check=False
    )
    text = done.stdout + done.stderr
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {text[-2000:]}")
    return text, parse_wrk(text)


def check_request(base: str, entry: str) -> httpx.Response:
    """Send one line of a request list as wrk would (a fresh UUID for each `{uuid}`)."""
    method, path, token, body = entry.split("\t")
    headers = {"Accept": "application/json"}
    if token != "-":
        headers["Authorization"] = f"Bearer {token}"
    content = None
    if body != "-":
        headers["Content-Type"] = "application/json"
        content = body.replace("{uuid}", str(uuid.uuid4()))
    return httpx.request(method, base + path, headers=headers, content=content, timeout=60)


# --------------------------------------------------------------------------- the run


def run_group(
    workers: int,
    fx: Fixtures,
    args: argparse.Namespace,
    work_dir: Path,
    rng: random.Random,
) -> list[dict[str, Any]]:
    env = server_env(args.pool_size, args.max_overflow)
    results: list[dict[str, Any]] = []
    wanted = [s for s in scenarios() if s.name in args.scenarios]
    for kind in ("A", "B", "W", "app"):
        mine = [s for s in wanted if s.server == kind]
        if not mine:
            continue
        server = Server(kind, workers, env, work_dir, args.app_root)
        try:
            server.wait_ready()
            therapist_token = login(server.base, fx.therapist) if kind == "app" else ""
            admin_token = login(server.base, fx.admin) if kind == "app" else ""
            lists = build_lists(fx, therapist_token, admin_token, rng)
            for sc in mine:
                results.append(run_one(sc, server, lists[sc.name], workers, args, work_dir))
        finally:
            server.stop()
    return results


def run_one(
    sc: Scenario,
    server: Server,
    entries: list[str],
    workers: int,
    args: argparse.Namespace,
    work_dir: Path,
) -> dict[str, Any]:
    list_path = work_dir / f"{sc.name}-w{workers}.tsv"
    list_path.write_text("\n".join(entries) + "\n")
    result: dict[str, Any] = {
        "scenario": sc.name,
        "server": sc.server,
        "workers": workers,
        "what": sc.what,
        "connections": sc.connections or args.connections,
        "threads": args.threads,
        "duration_s": args.duration,
    }
    answer = check_request(server.base, entries[0])
    if answer.status_code != sc.expect:
        detail = f"{answer.status_code} {answer.text[:300]}"
        log(f"  {sc.name:<12} w{workers}: check failed, expected {sc.expect}: {detail}")
        result["error"] = f"check: {detail}"
        return result
    result["response_bytes"] = len(answer.content)
    if sc.events_per_request:
        items = len(answer.json()["items"])
        if items != sc.events_per_request:
            result["error"] = f"check: a page held {items} events, not {sc.events_per_request}"
            log(f"  {sc.name:<12} w{workers}: {result['error']}")
            return result
    connections = sc.connections or args.connections
    threads = min(args.threads, connections)
    attempts = []
    while True:
        if args.warmup > 0:
            run_wrk(server.base, list_path, args.warmup, threads, connections, sc.timeout_s)
        attempts.append(measure(server, list_path, sc, threads, connections, args))
        last = attempts[-1]
        log(
            f"  {sc.name:<12} w{workers}: {last.get('rps', 0):>9,.1f} req/s  "
            f"p50 {last.get('p50_ms', 0):>8.2f} ms  p99 {last.get('p99_ms', 0):>8.2f} ms  "
            f"RSS {last['rss_mb_per_worker_peak']:>6.1f} MB/worker  "
            f"CPU {last['server_cpu_ms_per_request'] or 0:.2f} ms/req  "
            f"other load {last['other_cpu_cores']:.2f} cores"
            + (f"  non-2xx {last['non_2xx']}" if last.get("non_2xx") else "")
            + (f"  socket errors {last['socket_errors']}" if last.get("socket_errors") else "")
        )
        if not last["noisy"] or len(attempts) > args.noise_retries:
            break
        if time.monotonic() > args.retry_deadline:
            log("    (noisy, but no time left in the budget to measure it again)")
            break
        log("    (noisy: other processes were busy; measuring again)")
    best = min(attempts, key=lambda a: a["other_cpu_cores"])
    result.update(best)
    result["attempts"] = len(attempts)
    return result


def measure(
    server: Server,
    list_path: Path,
    sc: Scenario,
    threads: int,
    connections: int,
    args: argparse.Namespace,
) -> dict[str, Any]:
    load0 = os.getloadavg()[0]
    with Sampler(server) as sampler:
        text, parsed = run_wrk(
            server.base, list_path, args.duration, threads, connections, sc.timeout_s
        )
    result: dict[str, Any] = dict(parsed)
    result["wrk_output"] = text
    result["rss_mb_per_worker_peak"] = round(sampler.peak_worker, 1)
    result["rss_mb_total_peak"] = round(sampler.peak_total, 1)
    result["loadavg_1m_before"] = round(load0, 2)
    requests = parsed.get("requests") or 0
    result["server_cpu_ms_per_request"] = (
        round(sampler.cpu * 1000 / requests, 3) if requests else None
    )
    result["server_cpu_utilisation"] = round(sampler.cpu / args.duration, 2)
    result["postgres_cpu_utilisation"] = round(sampler.pg / args.duration, 2)
    result["wrk_cpu_utilisation"] = round(sampler.wrk / args.duration, 2)
    result["machine_busy_cores"] = round(sampler.busy_cores, 2)
    result["other_cpu_cores"] = round(sampler.other_cores, 2)
    result["noisy"] = sampler.other_cores > NOISE_CORES
    if sc.events_per_request and "rps" in parsed:
        result["events_per_s"] = round(parsed["rps"] * sc.events_per_request)
    return result


def add_ratios(results: list[dict[str, Any]]) -> None:
    for r in results:
        for base in ("A", "B", "W"):
            ref = next(
                (
                    x
                    for x in results
                    if x["scenario"] == base and x["workers"] == r["workers"] and x.get("rps")
                ),
                None,
            )
            r[f"ratio_{base}"] = round(r["rps"] / ref["rps"], 3) if ref and r.get("rps") else None


def evaluate(results: list[dict[str, Any]]) -> dict[str, Any]:
    def pick(name: str) -> list[dict[str, Any]]:
        return [r for r in results if r["scenario"] == name and r.get("rps")]

    verdicts: dict[str, Any] = {}
    for name in READS:
        for r in pick(name):
            key = f"{name}_w{r['workers']}"
            ratio = r.get("ratio_B")
            spread = r["p99_ms"] / r["p50_ms"] if r.get("p50_ms") else None
            verdicts[f"{key}_ratio_to_B"] = {
                "value": ratio,
                "target": f">= {TARGETS['reads_ratio_to_b_min']}",
                "met": ratio is not None and ratio >= TARGETS["reads_ratio_to_b_min"],
            }
            verdicts[f"{key}_p99_over_p50"] = {
                "value": round(spread, 2) if spread else None,
                "target": f"< {TARGETS['reads_p99_over_p50_max']}",
                "met": spread is not None and spread < TARGETS["reads_p99_over_p50_max"],
            }
    for r in pick("completion"):
        ratio = r.get("ratio_W")
        verdicts[f"completion_w{r['workers']}_ratio_to_W"] = {
            "value": ratio,
            "target": f">= {TARGETS['completion_ratio_to_w_min']}",
            "met": ratio is not None and ratio >= TARGETS["completion_ratio_to_w_min"],
        }
    for r in pick("changes"):
        eps = r.get("events_per_s")
        verdicts[f"changes_w{r['workers']}_events_per_s"] = {
            "value": eps,
            "target": f">= {TARGETS['changes_events_per_s_min']}",
            "met": eps is not None and eps >= TARGETS["changes_events_per_s_min"],
        }
    for workers in sorted({r["workers"] for r in results}):
        app_runs = [r for r in results if r["server"] == "app" and r["workers"] == workers]
        peak = max((r.get("rss_mb_per_worker_peak") or 0 for r in app_runs), default=None)
        if app_runs:
            verdicts[f"rss_w{workers}_mb_per_worker"] = {
                "value": peak,
                "target": f"< {TARGETS['rss_mb_per_worker_max']}",
                "met": peak is not None and peak < TARGETS["rss_mb_per_worker_max"],
            }
    return verdicts


def table(results: list[dict[str, Any]]) -> str:
    head = (
        f"{'scenario':<12} {'wk':>2} {'conn':>4} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'p99/p50':>7} {'xA':>6} {'xB':>6} {'xW':>6} {'RSS MB':>7} {'cpu ms':>7} "
        f"{'noise':>5} {'errors':>6}"
    )
    rows = [head, "-" * len(head)]
    for workers in sorted({r["workers"] for r in results}):
        for r in (x for x in results if x["workers"] == workers):
            if not r.get("rps"):
                rows.append(f"{r['scenario']:<12} {workers:>2}  FAILED: {r.get('error', '?')[:80]}")
                continue

            def ratio(key: str, r: dict[str, Any] = r) -> str:
                return f"{r[key]:.3f}" if r.get(key) is not None else "-"

            errors = (r.get("non_2xx") or 0) + (r.get("socket_errors") or 0)
            extra = f"  ({r['events_per_s']:,} events/s)" if r.get("events_per_s") else ""
            rows.append(
                f"{r['scenario']:<12} {workers:>2} {r['connections']:>4} {r['rps']:>9,.1f} "
                f"{r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['p99_ms'] / r['p50_ms']:>7.1f} "
                f"{ratio('ratio_A'):>6} {ratio('ratio_B'):>6} {ratio('ratio_W'):>6} "
                f"{r['rss_mb_per_worker_peak']:>7.1f} "
                f"{r.get('server_cpu_ms_per_request') or 0:>7.2f} "
                f"{r.get('other_cpu_cores', 0):>4.2f}{'!' if r.get('noisy') else ' '} "
                f"{errors:>6}{extra}"
            )
        rows.append("")
    rows.append(
        "RSS MB: peak VmRSS of the busiest worker; cpu ms: server CPU per request (all its "
        "processes);\nnoise: cores used meanwhile by other processes on the machine "
        f"('!' above {NOISE_CORES}: the figure is depressed by someone else's work)"
    )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.load.run_load", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--duration", type=float, default=10, help="seconds measured per run")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of warm-up per run")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--workers", default="1,2", help="uvicorn worker counts, e.g. 1,2")
    parser.add_argument(
        "--pool-size", type=int, default=32, help="DB_POOL_SIZE per worker (one per wrk connection)"
    )
    parser.add_argument("--max-overflow", type=int, default=8, help="DB_MAX_OVERFLOW")
    parser.add_argument(
        "--scenarios",
        default=",".join(s.name for s in scenarios()),
        help="comma-separated subset of: " + ", ".join(s.name for s in scenarios()),
    )
    parser.add_argument(
        "--app-root",
        type=Path,
        default=None,
        help="serve the app from this tree (a scratch copy with app/ and migrations/)",
    )
    parser.add_argument(
        "--noise-retries",
        type=int,
        default=0,
        help=f"measure a run again when other processes used > {NOISE_CORES} cores meanwhile",
    )
    parser.add_argument(
        "--reuse-db",
        action="store_true",
        help=f"use {LOAD_DATABASE} as a --keep-db run left it (no copy, no seeding)",
    )
    parser.add_argument("--keep-db", action="store_true", help=f"keep {LOAD_DATABASE} afterwards")
    parser.add_argument("--quick", action="store_true", help="3 s runs, 1 s warm-up (smoke test)")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "load.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.warmup = 3, 1
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    # Re-measuring noisy runs stops 8.5 minutes in, so the whole run stays under 10 minutes.
    args.retry_deadline = time.monotonic() + 510
    worker_counts = [int(w) for w in args.workers.split(",")]

    if shutil.which("wrk") is None:
        log("load benchmark skipped: wrk is not installed (apt-get install -y wrk)")
        return 2
    started = time.perf_counter()
    log(f"load bench started {datetime.now(UTC).isoformat(timespec='seconds')}")
    manifest = ensure_source()
    log(
        f"dataset homework_bench_{SOURCE_DATASET}: {manifest['counts']['completion']:,} "
        f"completions, {manifest['clients']:,} clients, generated for {manifest['now']}"
    )
    if args.reuse_db:
        log(f"reusing {LOAD_DATABASE} as it is (--reuse-db)")
    else:
        copy_s = asyncio.run(copy_dataset())
        log(f"copied to {LOAD_DATABASE} in {copy_s:.1f} s")
    work_dir = RESULTS_DIR / "load"
    work_dir.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any]] = []
    try:
        fx = asyncio.run(prepare(manifest, seed=not args.reuse_db))
        log(
            f"  {len(fx.writers):,} clients with an active daily thought record, "
            f"therapist {fx.therapist.email} with {len(fx.caseload)} clients, admin {fx.admin.email}"
        )
        pg_version = asyncio.run(server_version(load_url()))
        rng = random.Random(20261125)
        for workers in worker_counts:
            log(f"\n== {workers} worker{'s' if workers > 1 else ''}")
            results += run_group(workers, fx, args, work_dir, rng)
    finally:
        if not (args.keep_db or args.reuse_db):
            asyncio.run(drop_copy())
    add_ratios(results)
    verdicts = evaluate(results)
    total = time.perf_counter() - started
    log("\n" + table(results))
    log("targets:")
    for key, v in verdicts.items():
        log(f"  {'met   ' if v['met'] else 'MISSED'} {key}: {v['value']} (target {v['target']})")
    log(f"\nload bench finished in {total:.0f} s")
    document = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {**machine(), "postgresql": pg_version},
        "dataset": {
            "source": f"homework_bench_{SOURCE_DATASET}",
            "copy": LOAD_DATABASE,
            "generated_now": manifest.get("now"),
            "counts": manifest.get("counts"),
            "events_seeded": fx.events,
        },
        "settings": {
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "wrk_threads": args.threads,
            "wrk_connections": args.connections,
            "db_pool_size": args.pool_size,
            "db_max_overflow": args.max_overflow,
            "uvicorn": "--loop uvloop --http httptools --no-access-log --log-level warning",
        },
        "targets": TARGETS,
        "verdicts": verdicts,
        "results": [{k: v for k, v in r.items() if k != "wrk_output"} for r in results],
        "wrk_outputs": {f"{r['scenario']}-w{r['workers']}": r.get("wrk_output") for r in results},
        "app_root": str(args.app_root or ROOT),
        "seconds": round(total, 1),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2, default=str) + "\n")
    log(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
