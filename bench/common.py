"""What the bench scripts share: database URLs, the dataset manifest, the machine's description."""

import json
import os
import platform
from pathlib import Path
from typing import Any

import asyncpg

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"

# The server the datasets live on, and their names; BENCH_POSTGRES_URL moves them elsewhere.
DEFAULT_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432"
DATASETS = {"10k": 10_000, "1m": 1_000_000}
CLIENTS = 10_000
MANIFEST_TABLE = "bench_manifest"


def server_url() -> str:
    return os.environ.get("BENCH_POSTGRES_URL", DEFAULT_SERVER).rstrip("/")


def dataset_url(name: str) -> str:
    """`postgresql+asyncpg://.../homework_bench_1m` for a dataset name from DATASETS."""
    return f"{server_url()}/homework_bench_{name}"


def split_url(database_url: str) -> tuple[str, str]:
    """(asyncpg DSN of the server's `postgres` database, the database name)."""
    if not database_url.startswith("postgresql"):
        raise SystemExit("the benchmarks need PostgreSQL: postgresql+asyncpg://user@host:port/db")
    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    base, _, name = dsn.rpartition("/")
    name = name.split("?", 1)[0]
    if not name:
        raise SystemExit(f"no database name in {database_url}")
    return f"{base}/postgres", name


def plain_dsn(database_url: str) -> str:
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def read_manifest(database_url: str) -> dict[str, Any] | None:
    """The generator's manifest, or None when the database or its manifest is missing (a load
    that did not finish leaves no manifest: it is written last)."""
    try:
        conn = await asyncpg.connect(plain_dsn(database_url), timeout=10)
    except (asyncpg.InvalidCatalogNameError, OSError):
        return None
    try:
        exists = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", MANIFEST_TABLE)
        if not exists:
            return None
        rows = await conn.fetch(f"SELECT key, value FROM {MANIFEST_TABLE}")
        return {r["key"]: json.loads(r["value"]) for r in rows}
    finally:
        await conn.close()


async def table_counts(database_url: str, tables: list[str]) -> dict[str, int]:
    conn = await asyncpg.connect(plain_dsn(database_url), timeout=10)
    try:
        return {t: await conn.fetchval(f'SELECT count(*) FROM "{t}"') for t in tables}
    finally:
        await conn.close()


def machine() -> dict[str, Any]:
    cpu = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": mem_gib,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


async def server_version(database_url: str) -> str:
    conn = await asyncpg.connect(plain_dsn(database_url), timeout=10)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()
