"""Where a load scenario's server time goes: py-spy samples the worker while wrk drives it.

    python -m bench.load.profile_load agenda [--seconds 10] [--connections 32] [--reuse]

Starts the scenario's server (one worker, the load benchmark's flags and environment) on the
load database (`homework_bench_load`; made as bench.load.run_load makes it, or reused with
--reuse when a `run_load --keep-db` left it), warms it up, then records the worker with
`py-spy record --format raw` for the length of a wrk run. Prints the share of on-CPU samples
per layer (JWT, ORM, driver, validation, serialization, audit, logging...) and the heaviest
functions, inclusive and self; the collapsed stacks stay in bench/results/load/ for a flame
graph (e.g. speedscope). Needs py-spy (`pip install py-spy`).
"""

import argparse
import asyncio
import random
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

from bench.common import RESULTS_DIR, read_manifest
from bench.load import run_load as rl

# Layers, first match wins, tested against every frame of a stack (innermost first), so a
# sample counts for the innermost layer it is in.
LAYERS = [
    ("JWT (python-jose)", ("jose/",)),
    ("audit row (app.core.audit)", ("app/core/audit.py",)),
    ("outbox event (app.core.outbox)", ("app/core/outbox.py",)),
    ("idempotency (app.core.idempotency)", ("app/core/idempotency.py",)),
    ("access log (logging)", ("logging/__init__.py", "app/core/logging.py")),
    ("asyncpg driver", ("asyncpg/",)),
    ("SQLAlchemy ORM loading", ("sqlalchemy/orm/loading.py",)),
    ("SQLAlchemy ORM flush/unit of work", ("sqlalchemy/orm/unitofwork.py", "orm/persistence.py")),
    ("SQLAlchemy SQL compile", ("sqlalchemy/sql/compiler.py",)),
    ("SQLAlchemy engine/pool", ("sqlalchemy/engine/", "sqlalchemy/pool/")),
    ("SQLAlchemy other", ("sqlalchemy/",)),
    ("pydantic", ("pydantic/", "pydantic_core/")),
    ("FastAPI serialize/validate", ("fastapi/routing.py", "fastapi/_compat", "fastapi/encoders")),
    ("FastAPI dependencies", ("fastapi/dependencies/",)),
    ("starlette/uvicorn", ("starlette/", "uvicorn/")),
    ("json", ("json/",)),
]


IDLE = re.compile(r"^(Condition\.wait|Queue\.get|Event\.wait|Thread\.join) \((threading|queue)\.py")


def _in_app(frame: str) -> bool:
    return "(app/" in frame or "/main/app/" in frame


def layer_of(stack: list[str]) -> str:
    if "asyncio/runners.py" in stack[-1] or "uvloop" in stack[-1]:
        return "event loop and sockets (uvloop, native)"
    for frame in reversed(stack):
        for name, needles in LAYERS:
            if any(n in frame for n in needles):
                return name
        if _in_app(frame):
            return "app code: " + frame.rsplit("(", 1)[-1].split(":", 1)[0].rstrip(")")
    return "other"


def summarise(raw: Path, top: int = 25) -> str:
    total = 0
    layers: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    for text in raw.read_text().splitlines():
        stack_text, _, count_text = text.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        if IDLE.search(stack_text.rsplit(";", 1)[-1]):
            continue  # a thread-pool thread waiting for work
        # One frame per function: "name (file:line)" without the line.
        stack = [re.sub(r":\d+\)$", ")", f) for f in stack_text.split(";")]
        total += count
        layers[layer_of(stack)] += count
        for frame in set(stack):
            inclusive[frame] += count
        self_time[stack[-1]] += count
    if not total:
        return "no samples"

    def short(frame: str) -> str:
        return frame.replace(str(rl.ROOT) + "/", "").replace(
            str(Path(sys.prefix)) + "/lib/python3.11/site-packages/", ""
        )

    lines = [f"{total} samples on CPU", "", "by layer (innermost layer of each sample):"]
    lines += [f"  {n * 100 / total:5.1f} %  {name}" for name, n in layers.most_common()]
    lines += ["", f"top {top} inclusive in app/ (the request's own code):"]
    shown = 0
    for frame, n in inclusive.most_common():
        if not _in_app(frame) or "app/core/middleware.py" in frame:
            continue
        lines.append(f"  {n * 100 / total:5.1f} %  {short(frame)}")
        shown += 1
        if shown >= top:
            break
    lines += ["", f"top {top} inclusive in libraries (without the ASGI/server wrappers):"]
    wrappers = (
        "uvicorn/",
        "starlette/",
        "click/",
        "<frozen",
        "asyncio/",
        "fastapi/applications",
        "fastapi/middleware",
        "fastapi/telemetry",
        "fastapi/_body_limit",
        "/app/",
    )
    shown = 0
    for frame, n in inclusive.most_common():
        if any(w in frame for w in wrappers):
            continue
        lines.append(f"  {n * 100 / total:5.1f} %  {short(frame)}")
        shown += 1
        if shown >= top:
            break
    lines += ["", f"top {top} self:"]
    lines += [f"  {n * 100 / total:5.1f} %  {short(f)}" for f, n in self_time.most_common(top)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    names = [s.name for s in rl.scenarios()]
    parser = argparse.ArgumentParser(
        prog="python -m bench.load.profile_load", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("scenario", choices=names)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=None)
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--app-root", type=Path, default=None, help="serve app/ from here")
    parser.add_argument("--reuse", action="store_true", help="use the load database as it is")
    args = parser.parse_args(argv)
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        raise SystemExit("py-spy is not installed: pip install py-spy")
    scenario = next(s for s in rl.scenarios() if s.name == args.scenario)
    manifest = asyncio.run(read_manifest(rl.dataset_url(rl.SOURCE_DATASET)))
    if manifest is None:
        raise SystemExit("no dataset: run python -m bench.load.run_load (or make bench) first")
    if not args.reuse:
        asyncio.run(rl.copy_dataset())
    fx = asyncio.run(rl.prepare(manifest, seed=not args.reuse))
    work = RESULTS_DIR / "load"
    work.mkdir(parents=True, exist_ok=True)
    server = rl.Server(scenario.server, 1, rl.server_env(16, 16), work, args.app_root)
    try:
        server.wait_ready()
        therapist = rl.login(server.base, fx.therapist) if scenario.server == "app" else ""
        admin = rl.login(server.base, fx.admin) if scenario.server == "app" else ""
        entries = rl.build_lists(fx, therapist, admin, random.Random(1))[scenario.name]
        listing = work / f"profile-{scenario.name}.tsv"
        listing.write_text("\n".join(entries) + "\n")
        answer = rl.check_request(server.base, entries[0])
        if answer.status_code != scenario.expect:
            raise SystemExit(f"check failed: {answer.status_code} {answer.text[:300]}")
        connections = args.connections or scenario.connections or 32
        rl.run_wrk(server.base, listing, 3, 2, connections, scenario.timeout_s)
        raw = work / f"profile-{scenario.name}.txt"
        spy = subprocess.Popen(  # noqa: S603
            [
                py_spy,
                "record",
                "--pid",
                str(server.process.pid),
                "--duration",
                str(int(args.seconds)),
                "--rate",
                str(args.rate),
                "--format",
                "raw",
                "--output",
                str(raw),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _, parsed = rl.run_wrk(
            server.base, listing, args.seconds, 2, connections, scenario.timeout_s
        )
        spy.wait(args.seconds + 30)
    finally:
        server.stop()
    print(
        f"{scenario.name}: {parsed.get('rps', 0):,.1f} req/s, p50 {parsed.get('p50_ms')} ms, "
        f"p99 {parsed.get('p99_ms')} ms under py-spy ({connections} connections)\n"
    )
    print(summarise(raw))
    print(f"\ncollapsed stacks: {raw}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
