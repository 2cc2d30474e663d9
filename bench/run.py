"""`make bench`: every benchmark, each generating the data it needs first.

    python -m bench.run [--regenerate] [--http] [--quick]

The metrics benchmark needs two PostgreSQL datasets, `homework_bench_10k` and
`homework_bench_1m` (BENCH_POSTGRES_URL names the server; default the local one). They are
generated when missing, or when what is there no longer fits: another generator version or
client count, a schema behind the migrations, different row counts than the manifest says,
or the two made from different worlds. Both are then made again with one `--now`, so they hold
the same clients. Then the load benchmark (bench/load: the API under wrk next to baselines A,
B and W, on a copy of `homework_bench_1m`); it needs `wrk` and says so when it is missing.
"""

import argparse
import asyncio
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg

from bench import generate, metrics_bench
from bench.common import CLIENTS, DATASETS, dataset_url, plain_dsn, read_manifest


async def _problem(name: str, completions: int) -> tuple[str | None, dict[str, Any] | None]:
    """Why the dataset must be made again, or None; and its manifest."""
    from app.core.migrations import head_revisions

    url = dataset_url(name)
    manifest = await read_manifest(url)
    if manifest is None:
        return "missing", None
    if manifest.get("generator_version") != generate.GENERATOR_VERSION:
        return "made by another generator version", manifest
    if manifest.get("clients") != CLIENTS or manifest.get("completions_requested") != completions:
        return "made for other sizes", manifest
    conn = await asyncpg.connect(plain_dsn(url))
    try:
        revisions = {r[0] for r in await conn.fetch("SELECT version_num FROM alembic_version")}
        if revisions != set(head_revisions()):
            return "schema behind the migrations", manifest
        for table, expected in manifest["counts"].items():
            found = await conn.fetchval(f'SELECT count(*) FROM "{table}"')
            if found != expected:
                return f"{table} holds {found} rows, not {expected}", manifest
    finally:
        await conn.close()
    return None, manifest


def ensure_datasets(force: bool) -> float:
    """Generate what is missing or stale; returns the seconds spent generating."""
    checks = {name: asyncio.run(_problem(name, size)) for name, size in DATASETS.items()}
    problems = {name: why for name, (why, _) in checks.items() if why}
    worlds = {(m["seed"], m["now"]) for _, m in checks.values() if m is not None and m.get("now")}
    if not force and not problems and len(worlds) == 1:
        for name, (_, manifest) in checks.items():
            assert manifest is not None
            print(
                f"dataset {name}: up to date ({manifest['counts']['completion']:,} completions, "
                f"generated for {manifest['now']} in {manifest['timings']['total_s']} s)"
            )
        return 0.0
    for name, why in problems.items():
        print(f"dataset {name}: {why}")
    if not problems:
        print("datasets: " + ("regenerating on request" if force else "made from different worlds"))
    started = time.perf_counter()
    now = generate.default_now()
    for name, size in DATASETS.items():
        generate.generate(dataset_url(name), size, CLIENTS, generate.DEFAULT_SEED, now)
    spent = time.perf_counter() - started
    print(f"datasets generated in {spent:.1f} s")
    return spent


def code_version() -> dict[str, Any]:
    """Which code was measured: the commit, and whether app/ or migrations/ had local changes."""

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(  # noqa: S603 (a fixed, read-only git command)
                ["git", *args],  # noqa: S607
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip()

    status = git("status", "--porcelain", "--", "app", "migrations")
    return {"commit": git("rev-parse", "--short", "HEAD"), "local_changes": bool(status)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--regenerate", action="store_true", help="make the datasets again")
    parser.add_argument("--http", action="store_true", help="also time the calls through ASGI")
    parser.add_argument("--quick", action="store_true", help="fewer iterations, for a smoke run")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    print(f"bench started {datetime.now(UTC).isoformat(timespec='seconds')}")
    generation = ensure_datasets(args.regenerate)
    print("\n== metrics: client metrics and a 200-client caseload, 10k vs 1M completions")
    bench_args = (
        [
            "--iterations",
            "60",
            "--warmup",
            "10",
            "--caseload-iterations",
            "20",
            "--caseload-warmup",
            "3",
        ]
        if args.quick
        else []
    )
    if args.http:
        bench_args.append("--http")
    bench_args += ["--code", code_version_arg()]
    metrics_bench.main([*bench_args, "--generation-seconds", f"{generation:.1f}"])
    print("\n== load: the API under wrk, next to baselines A, B and W")
    sys.stdout.flush()
    from bench.load import run_load

    if run_load.main(["--quick"] if args.quick else []) != 0:
        print("load benchmark skipped (see above)")
    print(f"\nbench finished in {time.perf_counter() - started:.0f} s")
    sys.stdout.flush()


def code_version_arg() -> str:
    v = code_version()
    return f"{v['commit']}{'+local' if v['local_changes'] else ''}"


if __name__ == "__main__":
    main()
