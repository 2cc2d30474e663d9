"""What a stuck test was waiting for, written to stderr before pytest-timeout ends it.

pytest-timeout (`timeout` in pyproject.toml) ends a test that runs too long, so a hang fails
one test instead of the whole CI run, and dumps every thread's stack. An async test's thread
stack ends in the event loop's `select`, which says nothing; so shortly before the timeout
this plugin writes the stack of every pending asyncio task (the awaits a hang sits in) and
the sessions PostgreSQL shows waiting on a lock. Under xdist a worker's stderr is lost when
pytest-timeout ends it, so the report also goes to a file that the controller prints at the end.
"""

import asyncio
import gc
import io
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import traceback
from pathlib import Path

import pytest

from tests.databases import ENGINES, POSTGRES_URL

# The report comes this long before pytest-timeout's own dump and exit.
_EARLY_SECONDS = 10.0
_REPORTS = "HOMEWORK_HANG_REPORTS"  # the folder of this run's reports, set by the controller
_FINISHED = pytest.StashKey[threading.Event]()


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
    text = _text(nodeid)
    with (Path(os.environ[_REPORTS]) / f"{os.getpid()}.txt").open("a") as report:
        report.write(text)
    sys.stderr.write(text)
    sys.stderr.flush()


def _text(nodeid: str) -> str:
    parts = [f"\n=== {nodeid} is still running: pending asyncio tasks ===\n"]
    for task in _pending_tasks():
        out = io.StringIO()
        try:
            task.print_stack(file=out)
        except Exception as exc:  # a task that finished while being read
            out.write(f"({exc!r})\n")
        parts.append(f"--- {task!r}\n{out.getvalue()}")
    parts.append("=== PostgreSQL sessions waiting on a lock ===\n" + _lock_waits())
    parts.append("=== threads ===\n")
    for ident, frame in sys._current_frames().items():
        parts.append(f"--- thread {ident}\n" + "".join(traceback.format_stack(frame)))
    return "".join(parts)


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


def pytest_timeout_set_timer(item: pytest.Item, settings) -> None:
    """pytest-timeout's hook, with the timeout it resolved (option, ini or marker): start the
    early report's watch. Returns nothing, so pytest-timeout sets its own timer too."""
    if settings.timeout <= _EARLY_SECONDS:
        return
    finished = item.stash[_FINISHED] = threading.Event()

    def watch() -> None:
        if not finished.wait(settings.timeout - _EARLY_SECONDS):
            _report(item.nodeid)

    threading.Thread(target=watch, name="hang-report", daemon=True).start()


def pytest_timeout_cancel_timer(item: pytest.Item) -> None:
    finished = item.stash.get(_FINISHED, None)
    if finished is not None:
        finished.set()
