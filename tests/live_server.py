"""The real server as a process, for the steps that run alone (sdk, faults, contract): started,
killed and restarted as in production, its log kept so that a failing test can show it."""

import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent
# Variables of the test run that the server must not inherit.
_TEST_PREFIXES = ("TEST_", "REQUIRE_", "RUN_CONTRACT", "SCHEMATHESIS_")
_RUN_SECRET = secrets.token_urlsafe(48)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def plain_env(database_url: str, **extra: str) -> dict[str, str]:
    """The server's environment: this database, development settings, no throttling (each
    step sends thousands of requests from one address and account; throttling has tests of
    its own in the main suite)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(_TEST_PREFIXES) and k not in ("DATABASE_URL", "REDIS_URL")
    }
    env.update(
        DATABASE_URL=database_url,
        APP_ENV="development",
        LOG_LEVEL="WARNING",
        RATE_LIMIT_PER_MINUTE="1000000",
        RATE_LIMIT_ANONYMOUS_PER_MINUTE="1000000",
        # The fuzzer may send a demo email it saw as a `username` with a wrong password: a
        # locked demo account would only end the contract run early.
        LOGIN_MAX_FAILURES="1000000",
        # One secret for every server of the run, as a deployment has: a token stays good
        # across a restart (each server runs from its own folder, where development would
        # otherwise make a secret of its own).
        JWT_SECRET=_RUN_SECRET,
        **extra,
    )
    return env


def cli(env: dict[str, str], *args: str, cwd: Path | None = None) -> None:
    """`homework-api ARGS` with this environment; its output in the failure if it fails."""
    result = subprocess.run(
        [str(BIN / "homework-api"), *args],
        env=env,
        cwd=cwd or tempfile.gettempdir(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"homework-api {' '.join(args)}:\n{result.stdout}{result.stderr}"


class Server:
    """`homework-api serve` on a free loopback port, run from `workdir` (so no `.env` of the
    checkout applies), logging to `workdir/server-PORT.log`."""

    def __init__(self, env: dict[str, str], workdir: Path | None = None) -> None:
        self.env, self.port = env, free_port()
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="homework-server-"))
        self.log = self.workdir / f"server-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Server":
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    str(BIN / "homework-api"),
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                env=self.env,
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"server exited:\n{self.log.read_text()}"
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise AssertionError(f"server not ready in 60 s:\n{self.log.read_text()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no cleanup, as a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def errors(self) -> str:
        """What the server logged at ERROR (an unhandled error comes with its traceback)."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        lines = [
            line
            for line in text.splitlines()
            if '"level": "error"' in line or line.startswith(("ERROR", "Traceback"))
        ]
        return "\n".join(lines[-20:])
