"""Event-writing transactions across 1 and 20 clinics: the former global lock against per-clinic
numbers, in one run (issue 18).

    python -m bench.event_sequencing [--seconds 10] [--rounds 3] [--clients 32]

PostgreSQL only. A throw-away database (`homework_bench_events` on BENCH_POSTGRES_URL's
server, made at the latest migration and dropped afterwards) and pgbench, so that the client
costs next to nothing and the figure is the database's. Each transaction is what a write of
the API sends at its commit: one INSERT of the domain row, then the outbox's statement, then
COMMIT (fsync as the server is configured). The designs of the outbox statement:

- `global`: the former one (until revision e1a7c3b5d9f2): a deployment-wide advisory lock,
  taken in the statement, held through COMMIT; numbers from one sequence
  (`WITH outbox_lock AS (SELECT pg_advisory_xact_lock(k)) INSERT ... SELECT ... FROM outbox_lock`).
- `per_clinic`: the statement of revisions e1a7c3b5d9f2 to c3f9a1d7e5b2: the clinic's advisory
  lock, then its counter row upserted, both held through COMMIT (`WITH outbox_lock AS (...),
  sequence_taken AS (INSERT INTO event_counter ... ON CONFLICT DO UPDATE ... RETURNING ...)
  INSERT INTO event ... FROM sequence_taken`).
- `at_commit`: today's (`app/core/outbox.py`, `QueuedEvent`): the event queued without a lock,
  numbered by the deferred trigger inside the COMMIT (the same lock and counter row, taken at
  the COMMIT). pgbench sends COMMIT at once, so this measures only what the trigger costs the
  database; what it saves is the client's own time between its statements under the lock,
  which the load benchmark shows (bench/load/README.md).
- `per_clinic_sequence`: the clinic's advisory lock, numbers from one deployment-wide sequence
  (no counter row): the alternative measured for the decision in bench/README.md.
- `row_only`: the counter row without the lock, which orders a clinic's commits as well: kept
  to show why the app queues writers on the lock first.
- `unordered`: the events with no lock and no counter (a feed could then miss events): the
  ceiling of this machine for these transactions, which no ordering can pass.

Each client picks a clinic at random among 1 or 20 for each transaction. The designs and
clinic counts are interleaved round by round, and the median transactions/s of each is
reported with the ratios the issue asks for: per-clinic over global across 20 clinics (target
>= 3), and within one clinic (target >= 1: no slower than the global lock). Written to
`bench/results/event_sequencing.json`.
"""

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import asyncpg

from app.core.migrations import upgrade
from bench.common import RESULTS_DIR, server_url, split_url

DATABASE = "homework_bench_events"
PAYLOAD = json.dumps({"note": "x" * 900, "score": {"total": 11}})  # a completion's ~1 KB
CLINIC = "('00000000-0000-0000-0000-' || lpad(:c::text, 12, '0'))::uuid"
EVENT_COLUMNS = "id, type, resource_type, resource_id, clinic_id, client_id, occurred_at, payload"


def event_values(clinic: str) -> str:
    return (
        "gen_random_uuid(), 'completion.created', 'completion', gen_random_uuid(), "
        f"{clinic}, NULL, now(), '{PAYLOAD}'::jsonb"
    )


DOMAIN_WRITE = "INSERT INTO bench_write (clinic_no, written_at) VALUES (:c, now());"


def _numbered(lock: str, source: str) -> str:
    return (
        f"WITH {lock}sequence_taken AS (INSERT INTO event_counter (clinic_id, last_sequence) "
        f"{source} ON CONFLICT (clinic_id) DO UPDATE SET last_sequence = "
        "event_counter.last_sequence + excluded.last_sequence "
        "RETURNING event_counter.clinic_id, event_counter.last_sequence) "
        f"INSERT INTO event ({EVENT_COLUMNS}, sequence) "
        f"SELECT {event_values('sequence_taken.clinic_id')}, "
        "sequence_taken.last_sequence FROM sequence_taken;"
    )


SCRIPTS = {
    "global": (
        "WITH outbox_lock AS (SELECT pg_advisory_xact_lock(727100001::bigint) AS held) "
        f"INSERT INTO event_global ({EVENT_COLUMNS}) "
        f"SELECT {event_values(CLINIC)} FROM outbox_lock;"
    ),
    # What the app sent before the trigger: the clinic's advisory lock queues its writers,
    # then the counter.
    "per_clinic": _numbered(
        "outbox_lock AS (SELECT pg_advisory_xact_lock(727100, :c) AS held), ",
        f"SELECT {CLINIC}, 1 FROM outbox_lock",
    ),
    # The clinic's lock with numbers from one deployment-wide sequence (no counter row): in
    # commit order within a clinic on one PostgreSQL, but not on a sharded one, where a
    # sequence is not one counter (docs/scaling.md).
    "per_clinic_sequence": (
        "WITH outbox_lock AS (SELECT pg_advisory_xact_lock(727100, :c) AS held) "
        f"INSERT INTO event_global ({EVENT_COLUMNS}) "
        f"SELECT {event_values(CLINIC)} FROM outbox_lock;"
    ),
    # What the app sends: the event queued; the COMMIT's trigger takes lock, counter and row.
    "at_commit": f"INSERT INTO event_queue ({EVENT_COLUMNS}) SELECT {event_values(CLINIC)};",
    # The counter row alone (it orders a clinic's commits by itself): why the lock is there.
    "row_only": _numbered("", f"VALUES ({CLINIC}, 1)"),
    # No order at all (a global sequence, no lock): the machine's ceiling for these writes.
    "unordered": f"INSERT INTO event_global ({EVENT_COLUMNS}) SELECT {event_values(CLINIC)};",
}
# The former event table, beside today's: a global sequence as key.
GLOBAL_TABLE = """
CREATE TABLE event_global (
    sequence BIGSERIAL PRIMARY KEY, id uuid NOT NULL UNIQUE, type varchar(64) NOT NULL,
    resource_type varchar(32) NOT NULL, resource_id uuid NOT NULL, clinic_id uuid NOT NULL,
    client_id uuid, occurred_at timestamptz NOT NULL, payload jsonb NOT NULL)
"""
SETUP = [
    GLOBAL_TABLE,
    "CREATE INDEX ix_event_global_clinic_id_sequence ON event_global (clinic_id, sequence)",
    "CREATE TABLE bench_write (id BIGSERIAL PRIMARY KEY, clinic_no int, written_at timestamptz)",
    "INSERT INTO event_counter SELECT ('00000000-0000-0000-0000-' || lpad(n::text, 12, '0'))"
    "::uuid, 0 FROM generate_series(1, 20) AS n",
]


def script(design: str) -> str:
    return f"\\set c random(1, :clinics)\nBEGIN;\n{DOMAIN_WRITE}\n{SCRIPTS[design]}\nEND;\n"


def _pgbench_args(database_url: str) -> list[str]:
    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    match = re.match(
        r"postgresql://(?:(?P<user>[^@:/]+)@)?(?P<host>[^:/]+)(?::(?P<port>\d+))?", dsn
    )
    if not match:
        raise SystemExit(f"cannot read {database_url}")
    return ["-h", match["host"], "-p", match["port"] or "5432", "-U", match["user"] or "postgres"]


def run_pgbench(database_url: str, path: Path, clinics: int, seconds: int, clients: int) -> float:
    command = [
        shutil.which("pgbench") or "pgbench",
        *_pgbench_args(database_url),
        "-n",  # no vacuum of pgbench's own tables (there are none)
        "-M",
        "prepared",
        "-c",
        str(clients),
        "-j",
        "2",
        "-T",
        str(seconds),
        "-D",
        f"clinics={clinics}",
        "-f",
        str(path),
        DATABASE,
    ]
    done = subprocess.run(  # noqa: S603 (pgbench, with our own arguments)
        command, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"pgbench failed:\n{done.stderr}")
    found = re.search(r"tps = ([\d.]+) \(without initial connection time\)", done.stdout)
    if not found:
        raise SystemExit(f"no tps in pgbench's output:\n{done.stdout}")
    return float(found.group(1))


async def prepare(database_url: str) -> None:
    admin_dsn, _ = split_url(database_url)
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await conn.close()
    await asyncio.to_thread(upgrade, database_url)
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        for statement in SETUP:
            await conn.execute(statement)
    finally:
        await conn.close()


async def drop() -> None:
    admin_dsn, _ = split_url(f"{server_url()}/{DATABASE}")
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    finally:
        await conn.close()


def summary(figures: dict[str, list[float]], args: argparse.Namespace) -> dict[str, Any]:
    """Medians, and the ratios of the issue. Rounds are minutes apart on a machine other jobs
    may share: each ratio is taken within a round (runs seconds apart), and the median of the
    rounds' ratios is reported."""

    def ratio(design: str, baseline: str) -> float:
        pairs = zip(figures[design], figures[baseline], strict=True)
        return statistics.median(a / b for a, b in pairs)

    return {
        "clients": args.clients,
        "seconds": args.seconds,
        "rounds": args.rounds,
        "load_average": os.getloadavg(),
        "tps": figures,
        "median_tps": {key: statistics.median(values) for key, values in figures.items()},
        "ratio_20_clinics": ratio("per_clinic/20", "global/20"),
        "ratio_1_clinic": ratio("per_clinic/1", "global/1"),
        "share_of_ceiling_20_clinics": ratio("per_clinic/20", "unordered/20"),
        "sequence_ratio_20_clinics": ratio("per_clinic_sequence/20", "global/20"),
        "sequence_ratio_1_clinic": ratio("per_clinic_sequence/1", "global/1"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=32)
    args = parser.parse_args()
    if not shutil.which("pgbench"):
        raise SystemExit("pgbench is needed (Debian: postgresql-client or postgresql-contrib)")
    database_url = f"{server_url()}/{DATABASE}"
    asyncio.run(prepare(database_url))
    figures: dict[str, list[float]] = {}
    try:
        with tempfile.TemporaryDirectory() as folder:
            paths = {}
            for design in SCRIPTS:
                paths[design] = Path(folder) / f"{design}.sql"
                paths[design].write_text(script(design))
            for round_ in range(args.rounds):
                for clinics in (1, 20):
                    for design in SCRIPTS:
                        tps = run_pgbench(
                            database_url, paths[design], clinics, args.seconds, args.clients
                        )
                        figures.setdefault(f"{design}/{clinics}", []).append(tps)
                        label = f"{design:>10} x {clinics:>2} clinics"
                        print(f"round {round_ + 1}: {label}: {tps:8.0f} tps")
    finally:
        asyncio.run(drop())
    result = summary(figures, args)
    shown = (
        "median_tps",
        "ratio_20_clinics",
        "ratio_1_clinic",
        "share_of_ceiling_20_clinics",
        "sequence_ratio_20_clinics",
        "sequence_ratio_1_clinic",
    )
    print(json.dumps({k: result[k] for k in shown}, indent=2))
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "event_sequencing.json").write_text(json.dumps(result, indent=2))
    if result["ratio_20_clinics"] < 3 or result["ratio_1_clinic"] < 0.95:
        print("TARGET MISSED", file=sys.stderr)


if __name__ == "__main__":
    main()
