"""Client metrics and a 200-client caseload, timed at 10k and at 1M completions in one run.

    python -m bench.metrics_bench [--iterations 300] [--warmup 30] [--http]

Each database (made by `bench.generate`, see `bench.run`) gets the app built on it exactly as
`serve` builds it (`create_app(Settings(database_url=...))`), and the read paths are called
in-process, the way the router calls them, so the figure is the SQL and Python cost without
HTTP:

- metrics: a new session from `app.state.sessionmaker`, `get_visible_client` for the client's
  therapist, `client_metrics` over the default window (the 28 local days up to the client's
  today, week granularity), commit, close. A different client each time, drawn from the
  clients in treatment.
- caseload: a new session, the therapist's visible clients (the statement the router runs),
  `caseload_rows` for the 200 of them, commit, close.

`now` is the instant the dataset was generated at (its manifest says), so the windows always
land on data however old the dataset is. The two databases are measured in alternation,
iteration by iteration, so that whatever else the machine does weighs on both alike; the
ratio 1M/10k is the figure that travels between machines. With `--http` the same two calls
are also made through the whole ASGI stack (httpx's ASGITransport, a real access token):
those use the wall clock, as the router does.

Results: a table on stdout, and bench/results/metrics.json.
"""

import argparse
import asyncio
import json
import os
import random
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import event

from bench.common import DATASETS, RESULTS_DIR, dataset_url, machine, read_manifest, server_version

TARGETS = {"metrics_p95_ms": 25.0, "caseload_p95_ms": 100.0, "ratio_max": 1.3}


@dataclass
class SqlClock:
    """Wall time spent inside statements (cursor execute to its return), and their count."""

    seconds: float = 0.0
    statements: int = 0
    _started: list[float] = field(default_factory=list)

    def attach(self, engine: Any) -> None:
        @event.listens_for(engine.sync_engine, "before_cursor_execute")
        def _before(*_: Any) -> None:
            self._started.append(time.perf_counter())

        @event.listens_for(engine.sync_engine, "after_cursor_execute")
        def _after(*_: Any) -> None:
            self.seconds += time.perf_counter() - self._started.pop()
            self.statements += 1

    def reset(self) -> None:
        self.seconds, self.statements = 0.0, 0


@dataclass
class Series:
    total_ms: list[float] = field(default_factory=list)
    sql_ms: list[float] = field(default_factory=list)
    statements: list[int] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        t = sorted(self.total_ms)
        return {
            "n": len(t),
            "p50_ms": round(percentile(t, 50), 2),
            "p95_ms": round(percentile(t, 95), 2),
            "p99_ms": round(percentile(t, 99), 2),
            "mean_ms": round(statistics.fmean(t), 2),
            "min_ms": round(t[0], 2),
            "max_ms": round(t[-1], 2),
            "sql_p50_ms": round(percentile(sorted(self.sql_ms), 50), 2),
            "python_p50_ms": round(
                percentile(
                    sorted(a - b for a, b in zip(self.total_ms, self.sql_ms, strict=True)), 50
                ),
                2,
            ),
            "statements": max(self.statements) if self.statements else 0,
        }


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of sorted values."""
    if not values:
        return float("nan")
    rank = max(1, -(-len(values) * p // 100))
    return values[int(rank) - 1]


@dataclass
class Target:
    """One dataset with its app, principal and what to ask."""

    name: str
    url: str
    manifest: dict[str, Any]
    app: Any = None
    clock: SqlClock = field(default_factory=SqlClock)
    therapist: Any = None
    therapist_principal: Any = None
    clients: list[tuple[Any, Any]] = field(default_factory=list)  # (client id, principal)
    results: dict[str, Series] = field(default_factory=dict)
    http: Any = None
    token: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def now(self) -> datetime:
        return datetime.fromisoformat(self.manifest["now"])


async def open_target(name: str, sample: int, stack: AsyncExitStack) -> Target:
    from sqlalchemy import select

    from app.auth.models import Role, User
    from app.auth.principal import ROLE_SCOPES, Principal
    from app.clinics.models import CareTeamMember
    from app.core.config import Settings
    from app.main import create_app

    # "name" is a dataset of bench.run; "name=postgresql+asyncpg://..." any copy of one.
    name, _, url = name.partition("=")
    url = url or dataset_url(name)
    manifest = await read_manifest(url)
    if manifest is None:
        raise SystemExit(f"no dataset at {url}: run `python -m bench.run` (or bench.generate)")
    settings = Settings(_env_file=None, database_url=url, log_level="WARNING")  # type: ignore[call-arg]
    app = create_app(settings)
    stack.push_async_callback(app.state.engine.dispose)
    # Start it as `serve` does (whatever the app does at startup is part of what is measured).
    await stack.enter_async_context(app.router.lifespan_context(app))
    target = Target(name=name, url=url, manifest=manifest, app=app)
    target.clock.attach(app.state.engine)
    therapist_id = uuid.UUID(manifest["bench_therapist_id"])
    async with app.state.sessionmaker() as session:
        target.therapist = await session.get(User, therapist_id)
        if target.therapist is None:
            raise SystemExit(f"{url}: the bench therapist {therapist_id} is missing")
        target.therapist_principal = Principal(
            target.therapist.id,
            target.therapist.clinic_id,
            Role.therapist,
            ROLE_SCOPES[Role.therapist],
        )
        # Each sampled client is looked at by their own (first) therapist.
        ids = [uuid.UUID(c) for c in manifest["sample_clients"][:sample]]
        rows = (
            await session.execute(
                select(CareTeamMember.client_id, CareTeamMember.therapist_id, User.clinic_id)
                .join(User, User.id == CareTeamMember.therapist_id)
                .where(CareTeamMember.client_id.in_(ids))
                .order_by(CareTeamMember.client_id, CareTeamMember.created_at)
            )
        ).all()
    seen: dict[uuid.UUID, Any] = {}
    for client_id, tid, clinic_id in rows:
        seen.setdefault(
            client_id, Principal(tid, clinic_id, Role.therapist, ROLE_SCOPES[Role.therapist])
        )
    target.clients = [(c, seen[c]) for c in ids if c in seen]
    return target


async def metrics_call(target: Target, client_id: uuid.UUID, principal: Any) -> None:
    from app.clinics.repository import get_visible_client
    from app.metrics.schemas import Granularity
    from app.metrics.service import client_metrics

    now = target.now
    async with target.app.state.sessionmaker() as session:
        client = await get_visible_client(session, principal, client_id)
        # The router's default window: the 28 local days up to the client's today.
        end = now.astimezone(ZoneInfo(client.timezone)).date()
        start = end - timedelta(days=27)
        await client_metrics(session, client, start, end, Granularity.week, now)
        await session.commit()


async def caseload_call(target: Target) -> int:
    from app.clinics.repository import visible_clients
    from app.metrics.caseload import MAX_CASELOAD, caseload_rows

    async with target.app.state.sessionmaker() as session:
        stmt = visible_clients(target.therapist_principal).limit(MAX_CASELOAD + 1)
        clients = list((await session.execute(stmt)).scalars())
        rows = await caseload_rows(session, clients, target.now)
        await session.commit()
    return len(rows)


async def timed(
    target: Target, series: str, call: Callable[[], Awaitable[Any]], keep: bool
) -> None:
    target.clock.reset()
    started = time.perf_counter()
    await call()
    elapsed = time.perf_counter() - started
    if keep:
        s = target.results.setdefault(series, Series())
        s.total_ms.append(elapsed * 1000)
        s.sql_ms.append(target.clock.seconds * 1000)
        s.statements.append(target.clock.statements)


async def open_http(target: Target) -> None:
    import httpx

    from app.auth.principal import ROLE_SCOPES
    from app.auth.tokens import user_access_token

    target.token = user_access_token(
        target.app.state.jwt,
        target.app.state.settings,
        target.therapist,
        ROLE_SCOPES[target.therapist.role],
    )
    target.http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=target.app), base_url="http://bench"
    )


async def http_metrics(target: Target, client_id: uuid.UUID) -> None:
    # The caller must see the client: the token is the bench therapist's, so use their clients.
    end = target.now.date()
    response = await target.http.get(
        f"/v1/clients/{client_id}/metrics",
        params={"from": (end - timedelta(days=27)).isoformat(), "to": end.isoformat()},
        headers={"Authorization": f"Bearer {target.token}"},
    )
    response.raise_for_status()


async def http_caseload(target: Target) -> None:
    response = await target.http.get(
        "/v1/caseload", params={"limit": 50}, headers={"Authorization": f"Bearer {target.token}"}
    )
    response.raise_for_status()


async def run(
    names: list[str],
    iterations: int,
    warmup: int,
    caseload_iterations: int,
    caseload_warmup: int,
    sample: int,
    http: bool,
    seed: int,
) -> dict[str, Any]:
    async with AsyncExitStack() as stack:
        targets = [await open_target(name, sample, stack) for name in names]
        base = targets[0]
        for t in targets[1:]:
            if (t.manifest["seed"], t.manifest["now"], t.manifest["clients"]) != (
                base.manifest["seed"],
                base.manifest["now"],
                base.manifest["clients"],
            ):
                raise SystemExit("the datasets were made from different worlds: regenerate both")
            if [c for c, _ in t.clients] != [c for c, _ in base.clients]:
                raise SystemExit("the datasets hold different sample clients: regenerate both")
        for t in targets:
            rows = await caseload_call(t)
            if rows != len(t.manifest["bench_clients"]):
                raise SystemExit(f"{t.name}: the caseload has {rows} rows, not 200")
        if http:
            for t in targets:
                await open_http(t)
                stack.push_async_callback(t.http.aclose)
        rng = random.Random(seed)
        load_before = os.getloadavg()[0]
        started = time.perf_counter()
        # Metrics for a random client, then the caseload; each dataset in turn, and which one
        # goes first alternates, so that neither always follows the other.
        for i in range(warmup + iterations):
            client_id, principal = base.clients[rng.randrange(len(base.clients))]
            for t in targets if i % 2 == 0 else targets[::-1]:
                call = partial(metrics_call, t, client_id, principal)
                await timed(t, "metrics", call, i >= warmup)
        for i in range(caseload_warmup + caseload_iterations):
            for t in targets if i % 2 == 0 else targets[::-1]:
                await timed(t, "caseload", partial(caseload_call, t), i >= caseload_warmup)
        if http:
            bench_clients = [uuid.UUID(c) for c in base.manifest["bench_clients"]]
            for i in range(warmup + iterations):
                client_id = bench_clients[rng.randrange(len(bench_clients))]
                for t in targets if i % 2 == 0 else targets[::-1]:
                    call = partial(http_metrics, t, client_id)
                    await timed(t, "http_metrics", call, i >= warmup)
            for i in range(caseload_warmup + caseload_iterations):
                for t in targets if i % 2 == 0 else targets[::-1]:
                    call = partial(http_caseload, t)
                    await timed(t, "http_caseload", call, i >= caseload_warmup)
        elapsed = time.perf_counter() - started
        pg = await server_version(base.url)

    report: dict[str, Any] = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            **machine(),
            "postgresql": pg,
            "loadavg_1m_before": round(load_before, 2),
            "loadavg_1m_after": round(os.getloadavg()[0], 2),
        },
        "iterations": {"metrics": iterations, "caseload": caseload_iterations},
        "warmup": {"metrics": warmup, "caseload": caseload_warmup},
        "sample_clients": len(base.clients),
        "seconds": round(elapsed, 1),
        "datasets": {
            t.name: {
                "database": t.url.rsplit("/", 1)[-1],
                "completions": t.manifest["counts"]["completion"],
                "clients": t.manifest["clients"],
                "generated_now": t.manifest["now"],
                "generation_seconds": t.manifest["timings"]["total_s"],
                "caseload_completions": t.manifest["caseload_completions"],
                "results": {k: s.summary() for k, s in t.results.items()},
            }
            for t in targets
        },
    }
    if len(targets) == 2:
        small, big = (report["datasets"][t.name]["results"] for t in targets)
        report["ratios"] = {
            series: {
                "p50": round(big[series]["p50_ms"] / small[series]["p50_ms"], 3),
                "p95": round(big[series]["p95_ms"] / small[series]["p95_ms"], 3),
            }
            for series in big
        }
        report["targets"] = verdicts(big, report["ratios"])
    return report


def verdicts(big: dict[str, Any], ratios: dict[str, Any]) -> dict[str, Any]:
    return {
        "metrics_p95_under_25ms": {
            "value": big["metrics"]["p95_ms"],
            "met": big["metrics"]["p95_ms"] < TARGETS["metrics_p95_ms"],
        },
        "caseload_p95_under_100ms": {
            "value": big["caseload"]["p95_ms"],
            "met": big["caseload"]["p95_ms"] < TARGETS["caseload_p95_ms"],
        },
        "metrics_ratio_p95_at_most_1.3": {
            "value": ratios["metrics"]["p95"],
            "met": ratios["metrics"]["p95"] <= TARGETS["ratio_max"],
        },
        "caseload_ratio_p95_at_most_1.3": {
            "value": ratios["caseload"]["p95"],
            "met": ratios["caseload"]["p95"] <= TARGETS["ratio_max"],
        },
    }


def table(report: dict[str, Any]) -> str:
    names = list(report["datasets"])
    series = list(report["datasets"][names[0]]["results"])
    head = f"{'':16}" + "".join(
        f"{n + ' (' + format(report['datasets'][n]['completions'], ',') + ')':>34}" for n in names
    )
    if "ratios" in report:
        head += f"{'ratio':>16}"
    lines = [head, f"{'':16}" + f"{'p50 / p95 / p99 ms  [sql p50]':>34}" * len(names)]
    for s in series:
        line = f"{s:16}"
        for n in names:
            r = report["datasets"][n]["results"][s]
            cell = f"{r['p50_ms']:.1f} / {r['p95_ms']:.1f} / {r['p99_ms']:.1f}  [{r['sql_p50_ms']:.1f}]"
            line += f"{cell:>34}"
        if "ratios" in report:
            q = report["ratios"][s]
            line += f"{q['p50']:>7.2f} / {q['p95']:.2f}"
        lines.append(line)
    m = report["machine"]
    lines.append(
        f"{'':16}load average (1 min) {m['loadavg_1m_before']} before, "
        f"{m['loadavg_1m_after']} after; {report['seconds']} s"
    )
    if "targets" in report:
        lines.append("")
        for name, v in report["targets"].items():
            lines.append(f"  {name:34} {v['value']:>8}   {'met' if v['met'] else 'MISSED'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        prog="python -m bench.metrics_bench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--datasets",
        default=",".join(DATASETS),
        help="names, smallest first; NAME=URL for a copy elsewhere",
    )
    parser.add_argument("--iterations", type=int, default=400, help="metrics calls per dataset")
    parser.add_argument("--warmup", type=int, default=40)
    parser.add_argument("--caseload-iterations", type=int, default=100)
    parser.add_argument("--caseload-warmup", type=int, default=10)
    parser.add_argument("--sample", type=int, default=300, help="clients to draw from")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--http", action="store_true", help="also time both through ASGI")
    parser.add_argument("--output", default=str(RESULTS_DIR / "metrics.json"))
    parser.add_argument("--code", default=None, help="which code is measured (commit)")
    parser.add_argument(
        "--generation-seconds", type=float, default=None, help="spent generating in this run"
    )
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    report = asyncio.run(
        run(
            names,
            args.iterations,
            args.warmup,
            args.caseload_iterations,
            args.caseload_warmup,
            args.sample,
            args.http,
            args.seed,
        )
    )
    report["code"] = args.code
    report["generated_in_this_run_s"] = args.generation_seconds
    print(table(report))
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    print(f"\nwritten to {args.output}")
    return report


if __name__ == "__main__":
    main()
