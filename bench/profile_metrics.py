"""Where a metrics or caseload call spends its time: a pyinstrument profile and each statement's
own duration, on one dataset.

    pip install pyinstrument   # into the venv; not a dependency of the app
    python -m bench.profile_metrics --dataset 1m --what caseload [--iterations 20] [--explain]

`--explain` also prints EXPLAIN (ANALYZE, BUFFERS) of every statement the call ran.
"""

import argparse
import asyncio
import random
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from sqlalchemy import event

from bench.metrics_bench import caseload_call, metrics_call, open_target


async def profile(name: str, what: str, iterations: int, explain: bool, html: str | None) -> None:
    try:
        from pyinstrument import Profiler
    except ImportError:
        raise SystemExit("pip install pyinstrument into the venv first") from None

    async with AsyncExitStack() as stack:
        target = await open_target(name, 300, stack)  # NAME or NAME=URL
        statements: list[list[Any]] = []

        @event.listens_for(target.app.state.engine.sync_engine, "before_cursor_execute")
        def _before(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
            statements.append([statement, parameters, time.perf_counter(), None])

        @event.listens_for(target.app.state.engine.sync_engine, "after_cursor_execute")
        def _after(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
            statements[-1][3] = time.perf_counter()

        rng = random.Random(3)

        async def one() -> None:
            if what == "caseload":
                await caseload_call(target)
            else:
                client_id, principal = target.clients[rng.randrange(len(target.clients))]
                await metrics_call(target, client_id, principal)

        for _ in range(5):
            await one()
        statements.clear()
        profiler = Profiler(interval=0.001, async_mode="enabled")
        started = time.perf_counter()
        profiler.start()
        for _ in range(iterations):
            await one()
        profiler.stop()
        elapsed = (time.perf_counter() - started) / iterations * 1000
        print(profiler.output_text(unicode=True, color=False, show_all=False))
        if html:
            Path(html).write_text(profiler.output_html())  # noqa: ASYNC240 (after timing)
        print(f"{what} on {name}: {elapsed:.1f} ms a call (profiler on)\n")
        per_call = len(statements) // iterations
        print(f"statements a call: {per_call}; the last call's, slowest first:")
        last = statements[-per_call:]
        for stmt, _, t0, t1 in sorted(last, key=lambda s: s[2] - s[3]):
            head = " ".join(stmt.split())[:150]
            print(f"  {(t1 - t0) * 1000:7.2f} ms  {head}")
        if explain:
            async with target.app.state.engine.connect() as conn:
                for stmt, params, _, _ in last:
                    if not stmt.lstrip().upper().startswith("SELECT"):
                        continue
                    raw = await conn.get_raw_connection()
                    driver = raw.driver_connection
                    args = list(params) if isinstance(params, (tuple, list)) else []
                    rows = await driver.fetch("EXPLAIN (ANALYZE, BUFFERS) " + stmt, *args)
                    print("\n" + " ".join(stmt.split())[:300])
                    print("\n".join(r[0] for r in rows))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_metrics")
    parser.add_argument("--dataset", default="1m")
    parser.add_argument("--what", choices=["metrics", "caseload"], default="caseload")
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--html", default=None, help="also write the profile as HTML here")
    args = parser.parse_args()
    asyncio.run(profile(args.dataset, args.what, args.iterations, args.explain, args.html))


if __name__ == "__main__":
    main()
