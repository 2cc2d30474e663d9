"""Multi-process soak (issue 18): 3 API processes and 2 workers on one PostgreSQL through PgBouncer.

    python -m bench.soak [--seconds 180] [--users 16] [--drain-seconds 240] [--keep]

1. A fresh database `homework_bench_soak` on BENCH_POSTGRES_URL's server (dropped at the end
   unless --keep), migrated and given the built-in templates directly (not through the
   pooler); 4 clinics, each with an admin, a therapist and 5 clients on the therapist's care
   team, written with the ORM.
2. A PgBouncer of the run's own (tests/pooler/pgbouncer.py: transaction mode, 20 server
   connections, the statement timeout as its connect_query); 3 API processes (uvicorn, one
   worker each, `DATABASE_POOLER=pgbouncer`, one JWT secret) and 2 `homework-api worker`
   processes, all through it; a webhook receiver on loopback in this process. Every clinic's
   admin registers 1 or 2 endpoints; the therapist gives each client 2 daily thought records
   with 12 timed occurrences a day, started 28 days ago (through the API).
3. `--seconds` of load from `--users` virtual users spread over the 3 API processes: agenda
   and assignment reads, completions with an Idempotency-Key and a client-made id (one per
   occurrence; ~3 % of them lose their first answer to a short read timeout and are resent
   with the same key and body, as are writes answered 503 or "in progress"; ~5 % of the
   acknowledged ones are resent on purpose and must answer the same resource), client
   creation, and one change-feed poller per clinic following `next_cursor`. The receiver
   answers 500 to the first attempt of a deterministic ~10 % of events, so those are
   retried after the documented backoff (30-60 s).
4. Drain: up to `--drain-seconds` until the workers have fanned out every event and no
   delivery is pending. Then the checks, each read from the database directly:
   - no 5xx other than 503s announced with Retry-After;
   - every write got a final answer (nothing left unresolved or refused);
   - every acknowledged write stored exactly once (by id, with one `*.created` event), and
     nothing stored that was not acknowledged; every deliberate replay answered the same
     resource;
   - each clinic's feed as its poller saw it equals the clinic's events in the database,
     numbered 1, 2, 3 ... with no gap and no repeat;
   - every event of a subscribed type delivered (2xx, signature valid) to each endpoint of
     its clinic that subscribed to it, and nothing else; an event received with 2xx more than
     once counted as a duplicate; every attempt carrying the event's id as `Webhook-Id`;
   - no delivery left pending or failed; no ERROR in the servers', workers' or PgBouncer's logs.

Printed: requests/s, p50 and p99 by kind, answers by status, the checks; also
bench/results/soak.json, and the processes' logs in bench/results/soak/. Exit status 1 when a
check fails.
"""

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import asyncpg
import httpx
import uvicorn

from app.sync.signing import verify
from app.templates.library import get_builtin
from app.templates.service import builtin_template_id
from bench.common import RESULTS_DIR, machine, plain_dsn, server_url, server_version
from bench.load.run_load import Server, mint, server_env
from bench.login_burst import recreate_postgres
from tests.pooler.pgbouncer import PgBouncer

ROOT = Path(__file__).resolve().parents[1]
DATABASE = "homework_bench_soak"
LOG_DIR = RESULTS_DIR / "soak"
HOMEWORK_API = Path(sys.executable).with_name("homework-api")

CLINICS = 4
CLIENTS_PER_CLINIC = 5
ASSIGNMENTS_PER_CLIENT = 2
SLOTS = [f"{hour:02d}:00" for hour in range(8, 20)]  # 12 occurrences a day
DAYS_BACK = range(1, 28)  # completed_at may be up to 30 days in the past
API_PROCESSES = 3
WORKER_PROCESSES = 2
SERVER_CONNECTIONS = 20  # PgBouncer's pool
STATEMENT_TIMEOUT_MS = 15_000
API_POOL = {"DB_POOL_SIZE": "10", "DB_MAX_OVERFLOW": "10"}

# The load's mix: relative weights of what a virtual user does next.
ACTIONS = {"agenda": 30, "assignments": 20, "completion": 35, "client": 5, "replay": 5}
LOST_ANSWER_SHARE = 0.03  # completions whose first answer is lost to a short read timeout
LOST_ANSWER_TIMEOUT = httpx.Timeout(30.0, read=0.003)
REQUEST_TIMEOUT = httpx.Timeout(30.0)
WRITE_DEADLINE = 120.0  # seconds a keyed write keeps being resent before it counts unresolved
# The receiver answers 500 to the first attempt of one event in this many (by the event's id).
FAIL_FIRST_ONE_IN = 10
TOKEN_REFRESH_SECONDS = 60  # client tokens live at most 5 minutes
FEED_PAGE = 100


def log(message: str) -> None:
    print(message, flush=True)


# --------------------------------------------------------------------------- the world


@dataclass
class Hook:
    path: str
    event_types: list[str]
    id: str = ""
    secret: str = ""


@dataclass
class Assignment:
    id: str
    client: SimpleNamespace
    slots: list[tuple[date, str]]


@dataclass
class Clinic:
    number: int
    id: uuid.UUID
    admin: SimpleNamespace
    therapist: SimpleNamespace
    clients: list[SimpleNamespace]
    assignments: list[Assignment] = field(default_factory=list)
    hooks: list[Hook] = field(default_factory=list)


def person(user: Any) -> SimpleNamespace:
    """What bench.load.run_load.mint needs of a user."""
    return SimpleNamespace(
        id=user.id, clinic_id=user.clinic_id, email=user.email, role_enum=user.role
    )


def seed(database_url: str) -> list[Clinic]:
    """Migrate and sync directly (not through the pooler), then the clinics and their people."""
    from app.cli import migrate_and_sync
    from app.core.config import Settings

    settings = Settings(_env_file=None, database_url=database_url, app_env="test")  # type: ignore[call-arg]
    migrate_and_sync(settings)
    return asyncio.run(_people(settings))


async def _people(settings: Any) -> list[Clinic]:
    from app.auth.models import Role, User, UserStatus
    from app.clinics.models import CareTeamMember
    from app.clinics.models import Clinic as ClinicRow
    from app.core.db import create_engine, create_sessionmaker

    def user(clinic: ClinicRow, role: Role, email: str) -> User:
        return User(
            clinic_id=clinic.id,
            role=role,
            email=email,
            email_normalized=email,
            display_name=f"Soak {role.value}",
            timezone="UTC",
            status=UserStatus.active,
        )

    engine = create_engine(settings)
    clinics = []
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            for number in range(CLINICS):
                row = ClinicRow(name=f"Soak Clinic {number}", timezone="UTC")
                session.add(row)
                await session.flush()
                domain = f"clinic{number}.soak.example"
                admin = user(row, Role.admin, f"admin@{domain}")
                therapist = user(row, Role.therapist, f"therapist@{domain}")
                clients = [
                    user(row, Role.client, f"client{n}@{domain}") for n in range(CLIENTS_PER_CLINIC)
                ]
                session.add_all([admin, therapist, *clients])
                await session.flush()
                for client in clients:
                    session.add(
                        CareTeamMember(
                            client_id=client.id, therapist_id=therapist.id, clinic_id=row.id
                        )
                    )
                clinics.append(
                    Clinic(
                        number, row.id, person(admin), person(therapist), list(map(person, clients))
                    )
                )
    finally:
        await engine.dispose()
    return clinics


class Tokens:
    """Access tokens minted with the servers' JWT secret (bench.load.run_load.mint), minted
    again every minute: a client's token lives five minutes at most."""

    def __init__(self, people: list[SimpleNamespace]) -> None:
        self.people = people
        self.minted_at = 0.0
        self.tokens: dict[uuid.UUID, str] = {}

    def headers(self, who: SimpleNamespace) -> dict[str, str]:
        if time.monotonic() - self.minted_at > TOKEN_REFRESH_SECONDS:
            self.tokens = mint(self.people)
            self.minted_at = time.monotonic()
        return {"Authorization": f"Bearer {self.tokens[who.id]}"}


# --------------------------------------------------------------------------- processes


def soak_env(pooler_url: str) -> dict[str, str]:
    """bench.load's server environment (one JWT secret for every process, no rate limit),
    through the pooler."""
    return {
        **server_env(int(API_POOL["DB_POOL_SIZE"]), int(API_POOL["DB_MAX_OVERFLOW"])),
        "DATABASE_URL": pooler_url,
        "DATABASE_POOLER": "pgbouncer",
        "DB_STATEMENT_TIMEOUT_MS": str(STATEMENT_TIMEOUT_MS),
        "WEBHOOK_ALLOW_HTTP_LOOPBACK": "true",
        "WORKER_IN_PROCESS": "false",
        "WORKER_INTERVAL_SECONDS": "0.5",
        "LOG_LEVEL": "WARNING",
        # A claim whose request died with its client's connection is taken over after this.
        "IDEMPOTENCY_IN_PROGRESS_SECONDS": "15",
    }


class WorkerProcess:
    """`homework-api worker` in its own process group, logging to a file."""

    def __init__(self, number: int, env: dict[str, str], log_dir: Path) -> None:
        self.log_path = log_dir / f"worker-{number}.log"
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(  # noqa: S603 (our own entry point)
            [str(HOMEWORK_API), "worker"],
            cwd=ROOT,
            # The app of this tree, as the API processes serve it (not the editable install's).
            env={**env, "PYTHONPATH": str(ROOT)},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self._log.close()


def start_apis(env: dict[str, str]) -> list[Server]:
    servers = []
    for number in range(API_PROCESSES):
        folder = LOG_DIR / f"api-{number}"  # Server names its log by kind and worker count
        folder.mkdir(parents=True, exist_ok=True)
        servers.append(Server("app", 1, env, folder))
    for server in servers:
        server.wait_ready()
    return servers


def error_lines(paths: list[Path]) -> list[str]:
    """What the processes logged at ERROR (a failed request or worker round) or as a traceback."""
    found = []
    for path in paths:
        for line in path.read_text(errors="replace").splitlines():
            if '"level": "error"' in line or line.startswith("Traceback"):
                found.append(f"{path.parent.name}/{path.name}: {line[:300]}")
    return found


# --------------------------------------------------------------------------- the receiver


def fails_first(event_id: str) -> bool:
    """The events whose first attempt the receiver answers 500: the same ones every run."""
    return int(hashlib.sha256(event_id.encode()).hexdigest(), 16) % FAIL_FIRST_ONE_IN == 0


@dataclass
class Receipt:
    path: str
    webhook_id: str
    event_id: str
    sequence: int
    clinic_id: str
    type: str
    status: int
    signed: bool


class Receiver:
    """The webhook endpoints of every clinic on one loopback port, told apart by path: records
    every attempt and answers 200, or 500 to a failing event's first attempt."""

    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}
        self.receipts: list[Receipt] = []
        self.attempted: set[tuple[str, str]] = set()
        self.abandoned = 0  # attempts whose sender hung up before the body had arrived

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.abandoned += 1
                return
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        event, path = json.loads(body), scope["path"]
        signed = verify(self.secrets.get(path, ""), headers.get("webhook-signature", ""), body)
        first = (path, event["id"]) not in self.attempted
        self.attempted.add((path, event["id"]))
        status = 500 if first and fails_first(event["id"]) else 200 if signed else 400
        self.receipts.append(
            Receipt(
                path,
                headers.get("webhook-id", ""),
                event["id"],
                event["sequence"],
                event["clinic_id"],
                event["type"],
                status,
                signed,
            )
        )
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def serve_receiver(receiver: Receiver) -> tuple[uvicorn.Server, asyncio.Task, str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(receiver, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 (uvicorn offers no event to wait on)
        await asyncio.sleep(0.01)
    return server, task, base


# --------------------------------------------------------------------------- the load


@dataclass
class Write:
    kind: str
    clinic: int
    url: str
    body: dict[str, Any]
    who: SimpleNamespace
    key: str
    status: int
    resource_id: str


class Recorder:
    """Every answer (or network failure) by kind, with its latency."""

    def __init__(self) -> None:
        self.calls: dict[str, list[tuple[int | str, float]]] = defaultdict(list)
        self.server_errors: list[dict[str, Any]] = []

    def add(self, kind: str, status: int | str, ms: float, response: Any = None) -> None:
        self.calls[kind].append((status, ms))
        if isinstance(status, int) and status >= 500:
            self.server_errors.append(
                {
                    "kind": kind,
                    "status": status,
                    "retry_after": response.headers.get("retry-after") if response else None,
                    "body": response.text[:300] if response else "",
                }
            )


class Load:
    """The virtual users, the feed pollers and what they saw."""

    def __init__(
        self, clinics: list[Clinic], apis: list[httpx.AsyncClient], tokens: Tokens, seed: int
    ) -> None:
        self.clinics, self.apis, self.tokens = clinics, apis, tokens
        self.rng = random.Random(seed)
        self.recorder = Recorder()
        self.acked: list[Write] = []
        self.refused: list[dict[str, Any]] = []
        self.unresolved: list[dict[str, Any]] = []
        self.replays: Counter[str] = Counter()
        self.retries: Counter[str] = Counter()
        self.feeds: dict[int, list[tuple[int, str]]] = defaultdict(list)
        self.example = get_builtin("thought-record").realistic_example

    async def call(
        self,
        http: httpx.AsyncClient,
        kind: str,
        method: str,
        url: str,
        who: SimpleNamespace,
        *,
        body: dict[str, Any] | None = None,
        key: str | None = None,
        deadlines: httpx.Timeout = REQUEST_TIMEOUT,
    ) -> httpx.Response | None:
        """One request, recorded; None when no answer came (a timeout or a network error)."""
        headers = self.tokens.headers(who) | ({"Idempotency-Key": key} if key else {})
        started = time.perf_counter()
        try:
            response = await http.request(
                method, url, json=body, headers=headers, timeout=deadlines
            )
        except httpx.HTTPError as exc:
            status = "timeout" if isinstance(exc, httpx.TimeoutException) else "network"
            self.recorder.add(kind, status, (time.perf_counter() - started) * 1000)
            return None
        self.recorder.add(
            kind, response.status_code, (time.perf_counter() - started) * 1000, response
        )
        return response

    async def keyed_post(
        self,
        http: httpx.AsyncClient,
        kind: str,
        url: str,
        body: dict[str, Any],
        who: SimpleNamespace,
        key: str,
        *,
        lose_first: bool = False,
    ) -> httpx.Response | None:
        """POST with an Idempotency-Key, resent with the same key and body after no answer,
        a 503 or a 409 "still in progress", until a final answer or WRITE_DEADLINE."""
        deadline = time.monotonic() + WRITE_DEADLINE
        attempt = 0
        while time.monotonic() < deadline:
            attempt += 1
            deadlines = LOST_ANSWER_TIMEOUT if lose_first and attempt == 1 else REQUEST_TIMEOUT
            response = await self.call(
                http, kind, "POST", url, who, body=body, key=key, deadlines=deadlines
            )
            if response is None:
                self.retries["no answer"] += 1
                await asyncio.sleep(0.2)
            elif response.status_code == 503:
                self.retries["503"] += 1
                await asyncio.sleep(min(5.0, float(response.headers.get("retry-after", 1))))
            elif response.status_code == 409 and "in-progress" in response.text:
                self.retries["409 in progress"] += 1
                await asyncio.sleep(0.5)
            else:
                return response
        self.unresolved.append({"kind": kind, "url": url, "key": key})
        return None

    async def write(
        self,
        http: httpx.AsyncClient,
        clinic: Clinic,
        kind: str,
        url: str,
        body: dict[str, Any],
        who: SimpleNamespace,
        lose_first: bool = False,
    ) -> None:
        key = f"soak-{uuid.uuid4()}"
        response = await self.keyed_post(http, kind, url, body, who, key, lose_first=lose_first)
        if response is None:
            return
        if response.status_code != 201:
            self.refused.append(
                {"kind": kind, "status": response.status_code, "body": response.text[:300]}
            )
            return
        resource_id = response.json()["id"]
        self.acked.append(Write(kind, clinic.number, url, body, who, key, 201, resource_id))

    async def complete(self, http: httpx.AsyncClient, clinic: Clinic) -> None:
        open_ = [a for a in clinic.assignments if a.slots]
        if not open_:
            return
        assignment = self.rng.choice(open_)
        day, slot = assignment.slots.pop()
        body = {
            "id": str(uuid.uuid4()),
            "completed_at": f"{day.isoformat()}T23:30:00Z",
            "occurrence_date": day.isoformat(),
            "occurrence_time": slot,
            "status": "done",
            "responses": self.example,
            "mood_before": 3,
            "mood_after": 6,
        }
        url = f"/v1/assignments/{assignment.id}/completions"
        lose = self.rng.random() < LOST_ANSWER_SHARE
        await self.write(http, clinic, "completion", url, body, assignment.client, lose)

    async def create_client(self, http: httpx.AsyncClient, clinic: Clinic) -> None:
        body = {
            "email": f"soak-{uuid.uuid4().hex[:12]}@clinic{clinic.number}.soak.example",
            "display_name": "Soak Newcomer",
            "therapist_ids": [str(clinic.therapist.id)],
        }
        await self.write(http, clinic, "client", "/v1/clients", body, clinic.admin)

    async def replay(self, http: httpx.AsyncClient, clinic: Clinic) -> None:
        """Resend an acknowledged write of this clinic on purpose: the same resource answers."""
        mine = [w for w in self.acked if w.clinic == clinic.number]
        if not mine:
            return
        write = self.rng.choice(mine)
        response = await self.keyed_post(
            http, "replay", write.url, write.body, write.who, write.key
        )
        same = (
            response is not None
            and response.status_code == write.status
            and response.headers.get("idempotent-replayed") == "true"
            and response.json().get("id") == write.resource_id
        )
        self.replays["same" if same else "different"] += 1

    async def read_agenda(self, http: httpx.AsyncClient, clinic: Clinic) -> None:
        await self.call(http, "agenda", "GET", "/v1/me/agenda", self.rng.choice(clinic.clients))

    async def read_assignments(self, http: httpx.AsyncClient, clinic: Clinic) -> None:
        client = self.rng.choice(clinic.clients)
        url = f"/v1/assignments?client_id={client.id}"
        await self.call(http, "assignments", "GET", url, clinic.therapist)

    async def user(self, number: int, until: float, think: float) -> None:
        http = self.apis[number % len(self.apis)]
        clinic = self.clinics[number % len(self.clinics)]
        actions = {
            "agenda": self.read_agenda,
            "assignments": self.read_assignments,
            "completion": self.complete,
            "client": self.create_client,
            "replay": self.replay,
        }
        names, weights = list(ACTIONS), list(ACTIONS.values())
        while time.monotonic() < until:
            await actions[self.rng.choices(names, weights)[0]](http, clinic)
            await asyncio.sleep(think)

    async def follow_feed(self, clinic: Clinic, stop: asyncio.Event) -> None:
        """The clinic's change feed from the start, as an admin polls it; returns at the first
        empty page after `stop`."""
        http = self.apis[clinic.number % len(self.apis)]
        cursor = None
        while True:
            url = f"/v1/changes?limit={FEED_PAGE}" + (f"&cursor={cursor}" if cursor else "")
            page = await self.call(http, "feed", "GET", url, clinic.admin)
            if page is None or page.status_code != 200:
                await asyncio.sleep(0.5)
                continue
            document = page.json()
            self.feeds[clinic.number] += [(e["sequence"], e["id"]) for e in document["items"]]
            cursor = document["next_cursor"]
            if not document["items"]:
                if stop.is_set():
                    return
                await asyncio.sleep(0.25)


# --------------------------------------------------------------------------- set-up through the API


async def register_hooks(
    http: httpx.AsyncClient, clinics: list[Clinic], tokens: Tokens, receiver: Receiver, base: str
) -> None:
    """Every clinic's admin registers an endpoint for both kinds of event; every other clinic
    also a second one for completions only."""
    for clinic in clinics:
        clinic.hooks = [
            Hook(f"/hook/{clinic.number}/all", ["client.created", "completion.created"])
        ]
        if clinic.number % 2 == 0:
            clinic.hooks.append(Hook(f"/hook/{clinic.number}/completions", ["completion.created"]))
        for hook in clinic.hooks:
            answer = await http.post(
                "/v1/webhooks",
                json={"url": base + hook.path, "event_types": hook.event_types},
                headers=tokens.headers(clinic.admin),
            )
            answer.raise_for_status()
            hook.id, hook.secret = answer.json()["id"], answer.json()["secret"]
            receiver.secrets[hook.path] = hook.secret


async def give_assignments(http: httpx.AsyncClient, clinics: list[Clinic], tokens: Tokens) -> None:
    """Each client: daily thought records with 12 timed occurrences a day since 28 days ago;
    the past occurrences are the slots completions are made for, each once."""
    today = datetime.now(UTC).date()
    rng = random.Random(18)
    for clinic in clinics:
        for client in clinic.clients:
            for _ in range(ASSIGNMENTS_PER_CLIENT):
                body = {
                    "client_id": str(client.id),
                    "template_id": str(builtin_template_id("thought-record")),
                    "schedule": {
                        "start_date": (today - timedelta(days=28)).isoformat(),
                        "rrule": "FREQ=DAILY",
                        "times": SLOTS,
                    },
                }
                headers = tokens.headers(clinic.therapist) | {"Idempotency-Key": str(uuid.uuid4())}
                answer = await http.post("/v1/assignments", json=body, headers=headers)
                answer.raise_for_status()
                slots = [(today - timedelta(days=d), t) for d in DAYS_BACK for t in SLOTS]
                rng.shuffle(slots)
                clinic.assignments.append(Assignment(answer.json()["id"], client, slots))


# --------------------------------------------------------------------------- drain and database


async def drain(dsn: str, seconds: float) -> dict[str, Any]:
    """Wait until every event is fanned out and no delivery is pending (retries included)."""
    connection = await asyncpg.connect(dsn)
    started = time.monotonic()
    try:
        while True:
            behind = await connection.fetchval(
                "SELECT count(*) FROM event_counter c LEFT JOIN webhook_dispatch_cursor d "
                "USING (clinic_id) WHERE d.last_sequence IS NULL OR d.last_sequence < c.last_sequence"
            )
            pending = await connection.fetchval(
                "SELECT count(*) FROM webhook_delivery WHERE status = 'pending'"
            )
            waited = time.monotonic() - started
            if (behind == 0 and pending == 0) or waited > seconds:
                return {"seconds": round(waited, 1), "clinics_behind": behind, "pending": pending}
            await asyncio.sleep(2)
    finally:
        await connection.close()


async def snapshot(dsn: str) -> dict[str, Any]:
    """What the database holds, read directly (not through the pooler)."""
    connection = await asyncpg.connect(dsn)
    try:
        events = await connection.fetch(
            "SELECT clinic_id, sequence, id, type, resource_id FROM event ORDER BY clinic_id, sequence"
        )
        completions = await connection.fetch("SELECT id FROM completion")
        clients = await connection.fetch(
            """SELECT id, email, clinic_id FROM "user" WHERE email LIKE 'soak-%'"""
        )
        deliveries = await connection.fetch(
            "SELECT status, attempts, count(*) AS n FROM webhook_delivery GROUP BY 1, 2 ORDER BY 1, 2"
        )
    finally:
        await connection.close()
    return {
        "events": events,
        "completions": [str(r["id"]) for r in completions],
        "clients": clients,
        "deliveries": [dict(r) for r in deliveries],
    }


# --------------------------------------------------------------------------- checks


def check(name: str, ok: bool, **detail: Any) -> dict[str, Any]:
    return {"check": name, "ok": ok, **detail}


def check_server_errors(recorder: Recorder) -> dict[str, Any]:
    announced = [e for e in recorder.server_errors if e["status"] == 503 and e["retry_after"]]
    other = [e for e in recorder.server_errors if e not in announced]
    return check(
        "no 5xx but announced 503s", not other, announced_503=len(announced), other=other[:10]
    )


def check_answers(load: Load) -> dict[str, Any]:
    return check(
        "every write answered 201 in the end",
        not load.unresolved and not load.refused,
        unresolved=load.unresolved[:10],
        refused=load.refused[:10],
    )


def check_replays(load: Load) -> dict[str, Any]:
    return check("replays answer the same resource", load.replays["different"] == 0, **load.replays)


def check_stored_once(load: Load, db: dict[str, Any]) -> dict[str, Any]:
    """By id: each acknowledged completion and client stored once, with one created event;
    nothing stored that no answer acknowledged."""
    created = Counter(
        (r["type"], str(r["resource_id"]))
        for r in db["events"]
        if r["type"] in ("completion.created", "client.created")
    )
    acked = {
        kind: {w.resource_id for w in load.acked if w.kind == kind}
        for kind in ("completion", "client")
    }
    stored = {
        "completion": Counter(db["completions"]),
        "client": Counter(str(r["id"]) for r in db["clients"]),
    }
    problems: dict[str, Any] = {}
    for kind, ids in acked.items():
        missing = [i for i in ids if stored[kind][i] != 1]
        not_acked = [i for i in stored[kind] if i not in ids]
        events = [i for i in ids if created[(f"{kind}.created", i)] != 1]
        stray = [i for (t, i) in created if t == f"{kind}.created" and i not in ids]
        if missing or not_acked or events or stray:
            problems[kind] = {
                "not_stored_once": missing[:10],
                "stored_not_acknowledged": not_acked[:10],
                "not_one_event": events[:10],
                "events_of_unacknowledged": stray[:10],
            }
    keys = Counter(w.key for w in load.acked)
    counts = {kind: len(ids) for kind, ids in acked.items()}
    duplicate_keys = [k for k, n in keys.items() if n > 1]
    return check(
        "every acknowledged write stored once",
        not problems and not duplicate_keys,
        acknowledged=counts,
        problems=problems,
        duplicate_keys=duplicate_keys[:10],
    )


def check_feeds(load: Load, clinics: list[Clinic], db: dict[str, Any]) -> dict[str, Any]:
    """Each clinic's feed as polled equals its events in the database, numbered 1..n."""
    stored: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for r in db["events"]:
        stored[str(r["clinic_id"])].append((r["sequence"], str(r["id"])))
    per_clinic, ok = {}, True
    for clinic in clinics:
        seen, rows = load.feeds[clinic.number], stored[str(clinic.id)]
        numbered = [s for s, _ in rows] == list(range(1, len(rows) + 1))
        same = seen == rows
        ok = ok and numbered and same
        per_clinic[clinic.number] = {
            "events": len(rows),
            "polled": len(seen),
            "numbered_1_to_n": numbered,
            "poller_saw_exactly_these": same,
        }
    return check("each clinic's feed complete and in order", ok, clinics=per_clinic)


def check_webhooks(receiver: Receiver, clinics: list[Clinic], db: dict[str, Any]) -> dict[str, Any]:
    """Per endpoint: the 2xx receipts are exactly the clinic's events of its types; duplicates
    counted; every attempt's Webhook-Id the event's id."""
    by_clinic: dict[str, list[Any]] = defaultdict(list)
    for r in db["events"]:
        by_clinic[str(r["clinic_id"])].append(r)
    ok, endpoints = True, {}
    for clinic in clinics:
        for hook in clinic.hooks:
            mine = [r for r in receiver.receipts if r.path == hook.path]
            expected = {
                str(r["id"]) for r in by_clinic[str(clinic.id)] if r["type"] in hook.event_types
            }
            delivered = Counter(r.event_id for r in mine if 200 <= r.status < 300)
            wrong_id = [r.event_id for r in mine if r.webhook_id != r.event_id]
            missing, unexpected = expected - set(delivered), set(delivered) - expected
            endpoints[hook.path] = {
                "events_expected": len(expected),
                "attempts": len(mine),
                "answered_500": sum(r.status == 500 for r in mine),
                "delivered": len(delivered),
                "duplicates": sum(n - 1 for n in delivered.values()),
                "missing": sorted(missing)[:10],
                "unexpected": sorted(unexpected)[:10],
                "bad_signatures": sum(not r.signed for r in mine),
                "webhook_id_not_event_id": wrong_id[:10],
            }
            ok = ok and not (missing or unexpected or wrong_id) and all(r.signed for r in mine)
    return check("every event delivered to each subscribed endpoint", ok, endpoints=endpoints)


def check_duplicates(receiver: Receiver) -> dict[str, Any]:
    """A documented retry follows a failed attempt (here the receiver's 500s); an event sent
    again to an endpoint that had answered it 2xx is a duplicate the schedule does not explain.
    Either way every attempt carries the event's id as Webhook-Id (checked above)."""
    answered: set[tuple[str, str]] = set()
    after_success: Counter[str] = Counter()
    for r in receiver.receipts:  # in arrival order
        key = (r.path, r.event_id)
        if key in answered:
            after_success[r.path] += 1
        if 200 <= r.status < 300:
            answered.add(key)
    return check(
        "duplicates only from documented retries",
        not after_success,
        attempts_answered_500=sum(r.status == 500 for r in receiver.receipts),
        resent_after_a_2xx=dict(after_success),
        abandoned_by_the_sender=receiver.abandoned,
    )


def check_deliveries(db: dict[str, Any], drained: dict[str, Any]) -> dict[str, Any]:
    states = Counter()
    for row in db["deliveries"]:
        states[row["status"]] += row["n"]
    ok = drained["pending"] == 0 and drained["clinics_behind"] == 0 and states["failed"] == 0
    return check(
        "no delivery pending or failed", ok, by_status_and_attempts=db["deliveries"], drain=drained
    )


def check_logs(
    servers: list[Server], workers: list[WorkerProcess], bouncer: PgBouncer
) -> dict[str, Any]:
    found = error_lines([s.log_path for s in servers] + [w.log_path for w in workers])
    pooler = bouncer.errors()
    return check(
        "no errors logged", not found and not pooler, processes=found[:20], pgbouncer=pooler[:2000]
    )


# --------------------------------------------------------------------------- figures


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1) if ordered else 0.0


def figures(recorder: Recorder, seconds: float) -> dict[str, Any]:
    by_kind = {}
    for kind, calls in sorted(recorder.calls.items()):
        answered = [ms for status, ms in calls if isinstance(status, int)]
        by_kind[kind] = {
            "requests": len(calls),
            "per_s": round(len(calls) / seconds, 1),
            "p50_ms": percentile(answered, 0.5),
            "p99_ms": percentile(answered, 0.99),
            "statuses": dict(sorted(Counter(str(s) for s, _ in calls).items())),
        }
    return by_kind


def table(by_kind: dict[str, Any]) -> str:
    rows = [f"{'kind':<12} {'requests':>9} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8}  statuses"]
    for kind, f in by_kind.items():
        rows.append(
            f"{kind:<12} {f['requests']:>9} {f['per_s']:>7.1f} {f['p50_ms']:>8.1f} "
            f"{f['p99_ms']:>8.1f}  {f['statuses']}"
        )
    return "\n".join(rows)


async def sample_load(samples: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        samples.append(round(os.getloadavg()[0], 2))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=10)


# --------------------------------------------------------------------------- the run


async def soak(
    args: argparse.Namespace,
    clinics: list[Clinic],
    servers: list[Server],
    dsn: str,
) -> dict[str, Any]:
    receiver = Receiver()
    hook_server, hook_task, hook_base = await serve_receiver(receiver)
    tokens = Tokens([p for c in clinics for p in (c.admin, c.therapist, *c.clients)])
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    apis = [httpx.AsyncClient(base_url=s.base, limits=limits) for s in servers]
    try:
        await register_hooks(apis[0], clinics, tokens, receiver, hook_base)
        await give_assignments(apis[0], clinics, tokens)
        log(
            f"{len(clinics)} clinics, {sum(len(c.hooks) for c in clinics)} endpoints, "
            f"{sum(len(c.assignments) for c in clinics)} assignments; load for {args.seconds} s"
        )
        load = Load(clinics, apis, tokens, args.seed)
        stop_feeds, stop_sampling = asyncio.Event(), asyncio.Event()
        loadavg: list[float] = []
        sampler = asyncio.create_task(sample_load(loadavg, stop_sampling))
        feeds = [asyncio.create_task(load.follow_feed(c, stop_feeds)) for c in clinics]
        started = time.monotonic()
        until = started + args.seconds
        await asyncio.gather(*(load.user(n, until, args.think) for n in range(args.users)))
        elapsed = time.monotonic() - started
        log(
            f"load done in {elapsed:.0f} s; draining webhook deliveries (up to {args.drain_seconds} s)"
        )
        drained = await drain(dsn, args.drain_seconds)
        log(f"drained: {drained}")
        stop_feeds.set()
        await asyncio.wait_for(asyncio.gather(*feeds), timeout=120)
        stop_sampling.set()
        await sampler
        db = await snapshot(dsn)
    finally:
        for http in apis:
            await http.aclose()
        hook_server.should_exit = True
        await hook_task
    return {
        "load": load,
        "receiver": receiver,
        "db": db,
        "drained": drained,
        "seconds": elapsed,
        "loadavg": loadavg,
    }


def report(
    outcome: dict[str, Any],
    clinics: list[Clinic],
    servers: list[Server],
    workers: list[WorkerProcess],
    bouncer: PgBouncer,
) -> dict[str, Any]:
    load, db = outcome["load"], outcome["db"]
    checks = [
        check_server_errors(load.recorder),
        check_answers(load),
        check_replays(load),
        check_stored_once(load, db),
        check_feeds(load, clinics, db),
        check_webhooks(outcome["receiver"], clinics, db),
        check_duplicates(outcome["receiver"]),
        check_deliveries(db, outcome["drained"]),
        check_logs(servers, workers, bouncer),
    ]
    by_kind = figures(load.recorder, outcome["seconds"])
    receipts = outcome["receiver"].receipts
    return {
        "requests": by_kind,
        "requests_per_s": round(
            sum(f["requests"] for f in by_kind.values()) / outcome["seconds"], 1
        ),
        "acknowledged_writes_per_s": round(len(load.acked) / outcome["seconds"], 1),
        "resends": dict(load.retries),
        "replays": dict(load.replays),
        "events": len(db["events"]),
        "webhook_attempts": len(receipts),
        "webhook_answered_500": sum(r.status == 500 for r in receipts),
        "loadavg_1m": {
            "samples": outcome["loadavg"],
            "min": min(outcome["loadavg"], default=None),
            "max": max(outcome["loadavg"], default=None),
        },
        "checks": checks,
    }


def print_report(document: dict[str, Any]) -> None:
    log("\n" + table(document["requests"]))
    log(
        f"all requests {document['requests_per_s']} /s; acknowledged writes "
        f"{document['acknowledged_writes_per_s']} /s; resends {document['resends']}; "
        f"replays {document['replays']}"
    )
    log(
        f"events {document['events']}; webhook attempts {document['webhook_attempts']} "
        f"({document['webhook_answered_500']} answered 500 on purpose); load average "
        f"{document['loadavg_1m']['min']}-{document['loadavg_1m']['max']}"
    )
    for c in document["checks"]:
        detail = {k: v for k, v in c.items() if k not in ("check", "ok")}
        log(f"{'PASS' if c['ok'] else 'FAIL'}  {c['check']}")
        if not c["ok"]:
            log("      " + json.dumps(detail, default=str)[:3000])


def run(args: argparse.Namespace, database_url: str) -> dict[str, Any]:
    """Seed, start the pooler and the processes, soak, check; every process stopped after."""
    log(f"preparing {database_url}")
    clinics = seed(database_url)
    bouncer = PgBouncer(
        database_url,
        pool_mode="transaction",
        pool_size=SERVER_CONNECTIONS,
        connect_query=f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}",
    ).start()
    servers: list[Server] = []
    workers: list[WorkerProcess] = []
    try:
        env = soak_env(bouncer.url)
        workers = [WorkerProcess(n, env, LOG_DIR) for n in range(WORKER_PROCESSES)]
        servers = start_apis(env)
        log(f"PgBouncer on port {bouncer.port}; API processes {[s.base for s in servers]}")
        outcome = asyncio.run(soak(args, clinics, servers, plain_dsn(database_url)))
        return report(outcome, clinics, servers, workers, bouncer)
    finally:
        for process in [*servers, *workers]:
            process.stop()
        bouncer.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--seconds", type=float, default=180, help="length of the load")
    parser.add_argument("--users", type=int, default=16, help="concurrent virtual users")
    parser.add_argument(
        "--think", type=float, default=0.02, help="seconds between two actions of a user"
    )
    parser.add_argument(
        "--drain-seconds", type=float, default=240, help="longest wait for deliveries"
    )
    parser.add_argument("--seed", type=int, default=18, help="random seed of the load's choices")
    parser.add_argument("--keep", action="store_true", help=f"keep the database {DATABASE}")
    args = parser.parse_args(argv)

    database_url = f"{server_url()}/{DATABASE}"
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    asyncio.run(recreate_postgres(database_url, drop_only=False))
    try:
        document = run(args, database_url)
        document["postgresql"] = asyncio.run(server_version(database_url))
    finally:
        if not args.keep:
            asyncio.run(recreate_postgres(database_url, drop_only=True))
    document = {
        "measured_at": started.isoformat(timespec="seconds"),
        "settings": {
            "seconds": args.seconds,
            "users": args.users,
            "think_s": args.think,
            "api_processes": API_PROCESSES,
            "worker_processes": WORKER_PROCESSES,
            "pgbouncer": {"pool_mode": "transaction", "server_connections": SERVER_CONNECTIONS},
            "api_pool": API_POOL,
            "clinics": CLINICS,
            "mix": ACTIONS,
        },
        "machine": machine(),
        **document,
    }
    print_report(document)
    output = RESULTS_DIR / "soak.json"
    output.write_text(json.dumps(document, indent=2, default=str) + "\n")
    log(f"wrote {output}; logs in {LOG_DIR}")
    return 0 if all(c["ok"] for c in document["checks"]) else 1


if __name__ == "__main__":
    sys.exit(main())
