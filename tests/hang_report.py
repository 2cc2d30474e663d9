"""What a stuck test was waiting for, written to stderr before pytest-timeout ends it.

pytest-timeout (`timeout` in pyproject.toml) ends a test that runs too long, so a hang fails
one test instead of the whole CI run, and dumps every thread's stack. An async test's thread
stack ends in the event loop's `select`, which says nothing; so shortly before the timeout
this plugin writes the stack of every pending asyncio task (the awaits a hang sits in) and
the sessions PostgreSQL shows waiting on a lock. Under xdist a worker's stderr is lost when
pytest-timeout ends it, so the report also goes to a file that the controller prints at the end.
"""

import asyncio
import faulthandler
import gc
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from tests.databases import ENGINES, POSTGRES_URL

# The report comes this long before pytest-timeout's own dump and exit.
_EARLY_SECONDS = 10.0
_REPORTS = "HOMEWORK_HANG_REPORTS"  # the folder of this run's reports, set by the controller


def _pending_tasks() -> list[asyncio.Task]:
    # Read from another thread: a snapshot for a report, not for logic.
    return [o for o in gc.get_objects() if isinstance(o, asyncio.Task) and not o.done()]


def _lock_waits() -> str:
    query = (
        "SELECT a.pid, a.datname, a.wait_event_type, a.wait_event, a.state,"
        " left(a.query, 200), pg_blocking_pids(a.pid)"
        " FROM pg_stat_activity a WHERE a.wait_event_type = 'Lock'"
    )
    psql = shutil.which("psql")
    if psql is None or "postgresql" not in ENGINES:
        return "(not read: no psql, or no PostgreSQL in this run)\n"
    try:
        done = subprocess.run(
            [psql, POSTGRES_URL.replace("+asyncpg", ""), "-Atc", query],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"(pg_stat_activity not read: {exc})\n"
    return done.stdout or "(no session waits on a lock)\n"


def _report(nodeid: str) -> None:
    folder = Path(os.environ[_REPORTS])
    with (folder / f"{os.getpid()}.txt").open("a") as report:
        _write(report, nodeid)
    _write(sys.stderr, nodeid)


def _write(out, nodeid: str) -> None:
    out.write(f"\n=== {nodeid} is still running: pending asyncio tasks ===\n")
    for task in _pending_tasks():
        try:
            out.write(f"--- {task!r}\n")
            task.print_stack(file=out)
        except Exception as exc:  # a task that finished while being read
            out.write(f"({exc!r})\n")
    out.write("=== PostgreSQL sessions waiting on a lock ===\n" + _lock_waits())
    out.flush()
    faulthandler.dump_traceback(file=out, all_threads=True)


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the controller (or a run without xdist)
        os.environ[_REPORTS] = tempfile.mkdtemp(prefix="homework-hangs-")


def pytest_unconfigure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput") and _REPORTS in os.environ:
        shutil.rmtree(os.environ.pop(_REPORTS), ignore_errors=True)


def pytest_terminal_summary(terminalreporter) -> None:
    folder = Path(os.environ.get(_REPORTS, "/nonexistent"))
    for report in sorted(folder.glob("*.txt")):
        terminalreporter.section(f"hang report ({report.name})")
        terminalreporter.write(report.read_text(errors="replace"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    given = item.config.getoption("timeout", None)  # --timeout, else the ini's
    timeout = float(given if given is not None else item.config.getini("timeout") or 0)
    marker = item.get_closest_marker("timeout")
    if marker is not None and marker.args:
        timeout = float(marker.args[0])
    if timeout <= _EARLY_SECONDS:
        yield
        return
    finished = threading.Event()

    def watch() -> None:
        if not finished.wait(timeout - _EARLY_SECONDS):
            _report(item.nodeid)

    threading.Thread(target=watch, name="hang-report", daemon=True).start()
    try:
        yield
    finally:
        finished.set()
