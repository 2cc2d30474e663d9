"""The progress report (PDF, and one SVG chart) of the client with the longest history at 1M
completions.

    python -m bench.report_bench [--iterations 40] [--warmup 5]

On `homework_bench_1m` (made by `bench.generate`, see `bench.run`), the two-year client
(`bench.generate.add_long_history_client`: daily thought records, weekday breathing, weekly
PHQ-9 and GAD-7, two goals, achievements; added here to a dataset made before it existed)
is looked at by their own therapist, in-process the way the router calls it: a new session,
`get_visible_client`, `build_report` (the metrics service, then the report's own queries),
then the rendering (`render_pdf`, or `render_chart`, through `render.rendered` as the route's
worker thread runs it), commit, close. Two windows, both ending
on the client's last completion so that they hold data: the default length (twelve weeks) and
the longest allowed (366 days). `now` is the instant the dataset was generated at.

Results: a table on stdout, and bench/results/report.json.
"""

import argparse
import asyncio
import json
import os
import statistics
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import func, select

from bench.common import RESULTS_DIR, dataset_url, machine, read_manifest
from bench.generate import ensure_long_history_client

TARGETS = {"pdf_p95_ms": 400.0, "svg_p95_ms": 150.0}


def _summary(samples: list[tuple[float, float]]) -> dict[str, float]:
    """Wall-clock p50, p95 and max; and the p50 of this process's CPU time, which the other
    jobs of a shared machine inflate far less (it leaves out PostgreSQL's share)."""
    ordered = sorted(wall for wall, _ in samples)
    return {
        "p50_ms": round(statistics.median(ordered), 1),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 1),
        "max_ms": round(ordered[-1], 1),
        "cpu_p50_ms": round(statistics.median(cpu for _, cpu in samples), 1),
    }


async def main(iterations: int, warmup: int) -> dict[str, Any]:
    from app.auth.models import Role, User
    from app.auth.principal import ROLE_SCOPES, Principal
    from app.clinics.models import CareTeamMember
    from app.clinics.repository import get_visible_client
    from app.completions.models import Completion
    from app.core.config import Settings
    from app.main import create_app, tune_garbage_collector
    from app.reports import pdf
    from app.reports.charts import render_chart
    from app.reports.pdf import render_pdf
    from app.reports.render import rendered
    from app.reports.schemas import Audience, ChartName
    from app.reports.service import build_report

    url = dataset_url("1m")
    long_history = await ensure_long_history_client(url)
    manifest = await read_manifest(url)
    assert manifest is not None
    now = datetime.fromisoformat(manifest["now"]).astimezone(UTC)
    app = create_app(Settings(_env_file=None, database_url=url))  # type: ignore[call-arg]
    tune_garbage_collector()  # what the server's lifespan does before it serves
    client_id = uuid.UUID(long_history["id"])
    async with app.state.sessionmaker() as session:
        first, last, count = (
            await session.execute(
                select(
                    func.min(Completion.occurrence_date),
                    func.max(Completion.occurrence_date),
                    func.count(),
                ).where(Completion.client_id == client_id)
            )
        ).one()
        therapist_id, clinic_id = (
            await session.execute(
                select(CareTeamMember.therapist_id, CareTeamMember.clinic_id)
                .where(CareTeamMember.client_id == client_id)
                .order_by(CareTeamMember.created_at)
                .limit(1)
            )
        ).one()
        principal = Principal(therapist_id, clinic_id, Role.therapist, ROLE_SCOPES[Role.therapist])
        client = await session.get(User, client_id)
        assert client is not None
        history = {
            "client_id": str(client_id),
            "first": first.isoformat(),
            "last": last.isoformat(),
            "completions": count,
            "timezone": client.timezone,
            "dataset_completions": manifest["counts"]["completion"],
        }
    windows: dict[str, tuple[date, date]] = {
        "12 weeks": (last - timedelta(days=83), last),
        "366 days": (last - timedelta(days=365), last),
    }

    async def call(window: tuple[date, date], render: Any) -> tuple[float, float]:
        started, cpu = time.perf_counter(), time.process_time()
        async with app.state.sessionmaker() as session:
            visible = await get_visible_client(session, principal, client_id)
            report = await build_report(
                session, visible, window[0], window[1], now, audience=Audience.clinician
            )
            await session.commit()
        rendered(render, report)  # what the route's worker thread runs
        return (time.perf_counter() - started) * 1000, (time.process_time() - cpu) * 1000

    def pdf_cold(report: Any) -> bytes:
        # The embedded fonts cut anew, as for a report printing glyphs no report printed before.
        pdf._SUBSETS.clear()
        return render_pdf(report)

    kinds = {
        "pdf": render_pdf,
        "pdf, fonts cut anew": pdf_cold,
        **{f"svg {name.value}": partial(render_chart, name=name) for name in ChartName},
    }
    results: dict[str, Any] = {}
    load_before = round(os.getloadavg()[0], 2)
    for window_name, window in windows.items():
        for kind, render in kinds.items():
            for _ in range(warmup):
                await call(window, render)
            samples = [await call(window, render) for _ in range(iterations)]
            results[f"{kind}, {window_name}"] = _summary(samples)
    await app.state.engine.dispose()
    return {
        "history": history,
        "iterations": iterations,
        "loadavg_1m_before": load_before,
        "machine": machine(),
        "results": results,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    outcome = asyncio.run(main(args.iterations, args.warmup))
    print(json.dumps(outcome["history"]))
    print(
        f"load average (1 min) {outcome['loadavg_1m_before']} before, "
        f"{outcome['machine']['loadavg_1m']} after, on {outcome['machine']['nproc']} CPUs"
    )
    print(f"{'call':<34} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'cpu p50':>8}  target p95")
    for name, figures in outcome["results"].items():
        target = TARGETS["pdf_p95_ms" if name.startswith("pdf") else "svg_p95_ms"]
        print(
            f"{name:<34} {figures['p50_ms']:>8} {figures['p95_ms']:>8} {figures['max_ms']:>8}"
            f" {figures['cpu_p50_ms']:>8}  < {target:g}"
        )
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "report.json").write_text(json.dumps(outcome, indent=2, default=str))
