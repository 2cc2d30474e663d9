"""The progress report (PDF, and one SVG chart) of the client with the longest history at 1M
completions.

    python -m bench.report_bench [--iterations 40] [--warmup 5]

On `homework_bench_1m` (made by `bench.generate`, see `bench.run`), the client whose completions
span the most days (the generator's longest episodes run a year, inside two years of history)
is looked at by their own therapist, in-process the way the router calls it: a new session,
`get_visible_client`, `build_report` (the metrics service, then the report's own queries),
then the rendering (`render_pdf`, or `render_chart`), commit, close. Two windows, both ending
on the client's last completion so that they hold data: the default length (twelve weeks) and
the longest allowed (366 days). `now` is the instant the dataset was generated at.

Results: a table on stdout, and bench/results/report.json.
"""

import argparse
import asyncio
import json
import statistics
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from bench.common import RESULTS_DIR, dataset_url, machine, read_manifest

TARGETS = {"pdf_p95_ms": 400.0, "svg_p95_ms": 150.0}


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered), 1),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 1),
        "max_ms": round(ordered[-1], 1),
    }


async def main(iterations: int, warmup: int) -> dict[str, Any]:
    from app.auth.models import Role, User
    from app.auth.principal import ROLE_SCOPES, Principal
    from app.clinics.models import CareTeamMember
    from app.clinics.repository import get_visible_client
    from app.completions.models import Completion
    from app.core.config import Settings
    from app.main import create_app
    from app.reports.charts import render_chart
    from app.reports.pdf import render_pdf
    from app.reports.schemas import Audience, ChartName
    from app.reports.service import build_report

    url = dataset_url("1m")
    manifest = await read_manifest(url)
    if manifest is None:
        raise SystemExit(f"{url}: no dataset; run `python -m bench.run` first")
    now = datetime.fromisoformat(manifest["now"]).astimezone(UTC)
    app = create_app(Settings(_env_file=None, database_url=url))  # type: ignore[call-arg]
    async with app.state.sessionmaker() as session:
        span = func.max(Completion.occurrence_date) - func.min(Completion.occurrence_date)
        client_id, first, last, count = (
            await session.execute(
                select(
                    Completion.client_id,
                    func.min(Completion.occurrence_date),
                    func.max(Completion.occurrence_date),
                    func.count(),
                )
                .group_by(Completion.client_id)
                .order_by(span.desc(), func.count().desc())
                .limit(1)
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
        }
    windows: dict[str, tuple[date, date]] = {
        "12 weeks": (last - timedelta(days=83), last),
        "366 days": (last - timedelta(days=365), last),
    }

    async def call(window: tuple[date, date], render: Any) -> float:
        started = time.perf_counter()
        async with app.state.sessionmaker() as session:
            visible = await get_visible_client(session, principal, uuid.UUID(str(client_id)))
            report = await build_report(
                session, visible, window[0], window[1], now, audience=Audience.clinician
            )
            await session.commit()
        render(report)
        return (time.perf_counter() - started) * 1000

    kinds = {
        "pdf": render_pdf,
        "svg calendar": lambda r: render_chart(r, ChartName.calendar),
        "svg measures": lambda r: render_chart(r, ChartName.measures),
    }
    results: dict[str, Any] = {}
    for window_name, window in windows.items():
        for kind, render in kinds.items():
            for _ in range(warmup):
                await call(window, render)
            samples = [await call(window, render) for _ in range(iterations)]
            results[f"{kind}, {window_name}"] = _summary(samples)
    await app.state.engine.dispose()
    return {"history": history, "iterations": iterations, "machine": machine(), "results": results}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    outcome = asyncio.run(main(args.iterations, args.warmup))
    print(json.dumps(outcome["history"]))
    print(f"{'call':<26} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  target p95")
    for name, figures in outcome["results"].items():
        target = TARGETS["pdf_p95_ms" if name.startswith("pdf") else "svg_p95_ms"]
        print(
            f"{name:<26} {figures['p50_ms']:>8} {figures['p95_ms']:>8} {figures['max_ms']:>8}"
            f"  < {target:g}"
        )
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "report.json").write_text(json.dumps(outcome, indent=2, default=str))
