"""The API behind PgBouncer (`DATABASE_POOLER=pgbouncer`): migrate, seed and serve through a
PgBouncer of the test's own, in transaction mode (each transaction may run on another server
connection, and an autocommit read is a transaction of its own) and in session mode, then a
smoke set of every domain, many times over and concurrently, so that a prepared statement
reused across transactions would show (`prepared statement "__asyncpg_stmt_4__" already
exists` or `... does not exist`, what the API answered before the setting). The generated
Python SDK's scenario runs against the same server. Run alone: `pytest -p no:xdist -m pooler
tests/pooler` (`make test` does, when TEST_POSTGRES_URL names a PostgreSQL)."""

import asyncio
import datetime as dt
import json
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest
import uvicorn
from sqlalchemy.engine import make_url

from app.templates.library import get_builtin
from app.templates.service import builtin_template_id
from tests.databases import fresh_database, require_postgres, worker_id
from tests.live_server import Server, cli, plain_env
from tests.pooler.pgbouncer import BINARY, PgBouncer

# The SDK scenario of tests/sdk, collected here: it runs against this module's `server`.
from tests.sdk.test_generated_client import (  # noqa: F401
    sdk,
    test_a_generated_client_drives_the_whole_flow,
)

# One xdist group: its module-scoped PgBouncer and server are made once, on one worker.
pytestmark = [pytest.mark.pooler, pytest.mark.xdist_group("pooler")]

# Transaction mode is where statements move between server connections; session mode pins a
# client connection to one, so fewer rounds show as much there.
LOOPS = {"transaction": 50, "session": 20}
CONCURRENCY = 8
STATEMENT_TIMEOUT_MS = 15_000
PASSWORD = "demo-password-1"
# The server's own pool is larger than PgBouncer's in transaction mode, so that consecutive
# transactions of one client connection keep landing on other server connections.
API_POOL = {"DB_POOL_SIZE": "10", "DB_MAX_OVERFLOW": "10"}
SERVER_CONNECTIONS = {"transaction": 4, "session": 40}


def _client1_today() -> str:
    """The demo's client1's own today (America/New_York): the machine's date is another day
    there for some hours of every night, and a daily schedule starting then has no
    occurrence on the completion's local date."""
    return dt.datetime.now(ZoneInfo("America/New_York")).date().isoformat()


@pytest.fixture(scope="module", params=["transaction", "session"])
def pool_mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
async def database(pool_mode: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """A fresh database of this step's own for each pool mode; dropped afterwards."""
    if not os.environ.get("TEST_POSTGRES_URL"):
        pytest.skip(
            "SKIPPED: the PgBouncer step needs TEST_POSTGRES_URL (a PostgreSQL it may create "
            "databases on); .ci/run sets it"
        )
    if BINARY is None:
        pytest.skip(
            "SKIPPED: pgbouncer is not installed (Debian: apt-get install pgbouncer; `make "
            "pgbouncer` does it as root): the API was NOT tested behind a pooler"
        )
    await require_postgres()
    async with fresh_database(
        "postgresql", f"pooler_{pool_mode}_{worker_id()}", tmp_path_factory.mktemp("pooler")
    ) as url:
        yield url


async def _alter_database(url: str, statement: str) -> None:
    parts = make_url(url)
    connection = await asyncpg.connect(
        host=parts.host,
        port=parts.port,
        user=parts.username,
        password=parts.password,
        database=parts.database,
    )
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="module")
async def pooler(database: str, pool_mode: str) -> AsyncIterator[PgBouncer]:
    """Transaction mode gives every server connection the timeout with the pooler's
    `connect_query` (README's pgbouncer.ini); session mode, where PgBouncer's `DISCARD ALL`
    would reset that, with `ALTER DATABASE ... SET statement_timeout`."""
    connect_query = None
    if pool_mode == "transaction":
        connect_query = f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}"
    else:
        name = make_url(database).database
        await _alter_database(
            database, f'ALTER DATABASE "{name}" SET statement_timeout = {STATEMENT_TIMEOUT_MS}'
        )
    bouncer = PgBouncer(
        database,
        pool_mode=pool_mode,
        pool_size=SERVER_CONNECTIONS[pool_mode],
        connect_query=connect_query,
    ).start()
    yield bouncer
    bouncer.stop()


@pytest.fixture(scope="module")
def server(pooler: PgBouncer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = plain_env(
        pooler.url,
        DATABASE_POOLER="pgbouncer",
        DB_STATEMENT_TIMEOUT_MS=str(STATEMENT_TIMEOUT_MS),
        # The webhook worker runs in the server: its claims go through the pooler as well.
        WORKER_IN_PROCESS="true",
        WEBHOOK_ALLOW_HTTP_LOOPBACK="true",
        **API_POOL,
    )
    workdir = tmp_path_factory.mktemp("pooled-server")
    cli(env, "migrate", cwd=workdir)
    cli(env, "seed-demo", cwd=workdir)
    cli(env, "migrate", cwd=workdir)  # again: a second run meets the server connections
    running = Server(env, workdir).start()
    yield running
    running.stop()


# One password login at a time: two at once for one account race on its row (the second
# answers 412, pooler or not), and this test is about the pooler.
_one_login = asyncio.Lock()


async def _token(http: httpx.AsyncClient, email: str) -> dict[str, str]:
    async with _one_login:
        response = await http.post(
            "/v1/auth/token",
            data={"grant_type": "password", "username": email, "password": PASSWORD},
        )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def _client1(http: httpx.AsyncClient, therapist: dict[str, str]) -> str:
    response = await http.get("/v1/clients", headers=therapist)
    assert response.status_code == 200, response.text
    return next(c["id"] for c in response.json()["items"] if c["email"] == "client1@demo.clinic")


async def _visit(http: httpx.AsyncClient, client_id: str) -> tuple[str, str]:
    """One round of every domain, as a therapist, the client and the admin use the API; the
    ids of the assignment and the completion it made."""
    therapist = await _token(http, "therapist@demo.clinic")
    me = await http.get("/v1/me", headers=therapist)
    assert me.status_code == 200 and me.json()["email"] == "therapist@demo.clinic", me.text
    assert client_id == await _client1(http, therapist)

    key = {"Idempotency-Key": f"pooler-{uuid.uuid4()}"}
    body = {
        "client_id": client_id,
        "template_id": str(builtin_template_id("thought-record")),
        "schedule": {"start_date": _client1_today(), "rrule": "FREQ=DAILY"},
    }
    created = await http.post("/v1/assignments", json=body, headers=therapist | key)
    assert created.status_code == 201, created.text
    retried = await http.post("/v1/assignments", json=body, headers=therapist | key)
    assert retried.status_code == 201, retried.text
    assert retried.headers.get("idempotent-replayed") == "true"
    assert retried.json()["id"] == created.json()["id"]
    assignment_id = created.json()["id"]

    client = await _token(http, "client1@demo.clinic")
    agenda = await http.get("/v1/me/agenda", headers=client)
    assert agenda.status_code == 200, agenda.text
    assert assignment_id in {item["assignment_id"] for item in agenda.json()["items"]}
    completion = {
        "id": str(uuid.uuid4()),
        "completed_at": dt.datetime.now(dt.UTC).isoformat(),
        "responses": get_builtin("thought-record").realistic_example,
        "mood_before": 3,
        "mood_after": 6,
    }
    done = await http.post(
        f"/v1/assignments/{assignment_id}/completions",
        json=completion,
        headers=client | {"Idempotency-Key": f"pooler-{completion['id']}"},
    )
    assert done.status_code == 201, done.text

    changes = await http.get(f"/v1/changes?client_id={client_id}&limit=20", headers=therapist)
    assert changes.status_code == 200, changes.text
    metrics = await http.get(f"/v1/clients/{client_id}/metrics", headers=therapist)
    assert metrics.status_code == 200 and metrics.json()["adherence"]["completed"] >= 1
    bundle = await http.get(f"/v1/fhir/Patient/{client_id}/$everything", headers=therapist)
    assert bundle.status_code == 200 and bundle.json()["resourceType"] == "Bundle", bundle.text

    await _programs_and_groups(http, therapist, client, client_id)

    admin = await _token(http, "admin@demo.clinic")
    hook = await http.post(
        "/v1/webhooks",
        json={"url": "http://127.0.0.1:9/hook", "event_types": ["goal.created"]},
        headers=admin,
    )
    assert hook.status_code == 201, hook.text
    removed = await http.delete(f"/v1/webhooks/{hook.json()['id']}", headers=admin)
    assert removed.status_code == 204, removed.text
    return assignment_id, completion["id"]


async def _programs_and_groups(
    http: httpx.AsyncClient, therapist: dict[str, str], client: dict[str, str], client_id: str
) -> None:
    """The programs' and groups' smoke: an enrolment whose first step becomes an assignment,
    a group with the client in it, its homework, what the client shares and the facilitator
    sees."""
    programs = await http.get("/v1/programs", headers=therapist)
    assert programs.status_code == 200 and programs.json()["items"], programs.text
    enrolled = await http.post(
        f"/v1/programs/{programs.json()['items'][0]['id']}/enrolments",
        json={"client_id": client_id},
        headers=therapist,
    )
    assert enrolled.status_code == 201, enrolled.text
    assert enrolled.json()["steps"][0]["state"] == "released"
    group = await http.post("/v1/groups", json={"name": "Pooler group"}, headers=therapist)
    assert group.status_code == 201, group.text
    path = f"/v1/groups/{group.json()['id']}"
    joined = await http.post(
        f"{path}/members", json={"client_id": client_id, "display_name": "C."}, headers=therapist
    )
    assert joined.status_code == 201, joined.text
    homework = await http.post(
        f"{path}/assignments",
        json={
            "template_id": str(builtin_template_id("thought-record")),
            "schedule": {"start_date": _client1_today(), "rrule": "FREQ=DAILY"},
        },
        headers=therapist,
    )
    assert homework.status_code == 201, homework.text
    (given,) = homework.json()["member_assignments"]
    done = await http.post(
        f"/v1/assignments/{given['assignment_id']}/completions",
        json={
            "completed_at": dt.datetime.now(dt.UTC).isoformat(),
            "responses": get_builtin("thought-record").realistic_example,
        },
        headers=client,
    )
    assert done.status_code == 201, done.text
    shared = await http.post(
        f"{path}/shares",
        json={"completion_id": done.json()["id"], "fields": ["balanced_thought"]},
        headers=client,
    )
    assert shared.status_code == 201, shared.text
    seen = await http.get(f"{path}/completions", headers=therapist)
    assert [c["id"] for c in seen.json()["items"]] == [done.json()["id"]], seen.text


async def _whole_feed(http: httpx.AsyncClient, headers: dict[str, str]) -> list[dict]:
    events: list[dict] = []
    cursor = None
    while True:
        query = "/v1/changes?limit=1000&types=assignment.created"
        response = await http.get(query + (f"&cursor={cursor}" if cursor else ""), headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        events += page["items"]
        if not page["items"]:
            return events
        cursor = page["next_cursor"]


class Receiver:
    """A webhook endpoint on loopback: the completions it was told about, by event."""

    def __init__(self) -> None:
        self.completions: dict[str, str] = {}  # completion id -> Webhook-Id

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        event = json.loads(body)
        if event["type"] == "completion.created":
            self.completions[event["data"]["id"]] = headers["webhook-id"]
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    app = Receiver()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    running = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(running.serve(sockets=[sock]))
    for _ in range(500):
        if running.started:
            break
        await asyncio.sleep(0.01)
    yield app, f"http://127.0.0.1:{port}/hook"
    running.should_exit = True
    await task


async def test_every_domain_answers_through_the_pooler_many_times_over(
    server: Server, pooler: PgBouncer, receiver: tuple[Receiver, str], pool_mode: str
) -> None:
    endpoint, endpoint_url = receiver
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=server.url, timeout=60, limits=limits) as http:
        therapist = await _token(http, "therapist@demo.clinic")
        admin = await _token(http, "admin@demo.clinic")
        hook = await http.post(
            "/v1/webhooks",
            json={"url": endpoint_url, "event_types": ["completion.created"]},
            headers=admin,
        )
        assert hook.status_code == 201, hook.text
        client_id = await _client1(http, therapist)
        gate = asyncio.Semaphore(CONCURRENCY)

        async def visit() -> tuple[str, str]:
            async with gate:
                return await _visit(http, client_id)

        made = await asyncio.gather(*(visit() for _ in range(LOOPS[pool_mode])))
        assignments = {assignment for assignment, _ in made}
        completions = {completion for _, completion in made}
        # Every assignment announced once in the feed, whichever server connection wrote it.
        announced = [e["resource_id"] for e in await _whole_feed(http, therapist)]
    assert len(assignments) == len(completions) == LOOPS[pool_mode]
    assert sorted(a for a in announced if a in assignments) == sorted(assignments)
    # The worker (claims with SKIP LOCKED, through the pooler too) delivers every completion.
    for _ in range(600):
        if completions <= set(endpoint.completions):
            break
        await asyncio.sleep(0.1)
    assert completions <= set(endpoint.completions)
    assert _app_errors(server) == []
    assert pooler.errors() == ""


def _app_errors(server: Server) -> list[str]:
    """What the API logged at ERROR (a failed request or worker round, with its traceback),
    and any word of a prepared statement. (Not the "Task exception was never retrieved" that
    the `limits` library's in-memory storage prints now and then: a KeyError in its own
    expiry task, outside any request.)"""
    lines = server.log.read_text(errors="replace").splitlines()
    return [line for line in lines if '"level": "error"' in line or "prepared statement" in line]


async def test_the_statement_timeout_holds_behind_the_pooler(
    server: Server, pooler: PgBouncer
) -> None:
    """PgBouncer refuses `statement_timeout` as a startup parameter, so the API does not send
    it there; the pooler's connect_query (or the database's setting) applies it instead, and
    the API, which checks on its first connection, has nothing to warn about."""
    parts = make_url(pooler.url)
    connection = await asyncpg.connect(
        host=parts.host,
        port=parts.port,
        user=parts.username,
        password=parts.password,
        database=parts.database,
        statement_cache_size=0,
    )
    try:
        assert await connection.fetchval("SHOW statement_timeout") == "15s"
    finally:
        await connection.close()
    assert "statement_timeout is" not in server.log.read_text()
