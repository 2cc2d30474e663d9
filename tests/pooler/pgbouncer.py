"""A PgBouncer of the test's own: Debian's binary, a config in a temporary folder, a free
loopback port, one database behind it; stopped afterwards. Never the machine's service."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from tests.live_server import free_port

# Debian installs it in /usr/sbin, which a non-root PATH may not list.
BINARY = shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin:/usr/local/sbin")


def _quoted(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


class PgBouncer:
    """`pgbouncer` in the foreground in front of `database_url`'s database, in `pool_mode`.

    `connect_query` runs on each server connection it opens (the documented way to give every
    server connection the API's `statement_timeout` in transaction mode)."""

    def __init__(
        self,
        database_url: str,
        *,
        pool_mode: str,
        pool_size: int,
        connect_query: str | None = None,
    ) -> None:
        assert BINARY, "pgbouncer is not installed"
        self.upstream: URL = make_url(database_url)
        self.pool_mode, self.pool_size, self.connect_query = pool_mode, pool_size, connect_query
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="homework-pgbouncer-"))
        self.log = self.folder / "pgbouncer.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The database's SQLAlchemy URL through the pooler."""
        return self.upstream.set(host="127.0.0.1", port=self.port).render_as_string(
            hide_password=False
        )

    def _write_config(self) -> Path:
        user = self.upstream.username or "postgres"
        database = self.upstream.database
        target = f"host={self.upstream.host or '127.0.0.1'} port={self.upstream.port or 5432}"
        target += f" dbname={database}"
        if self.connect_query:
            target += " connect_query='" + self.connect_query.replace("'", "''") + "'"
        (self.folder / "userlist.txt").write_text(
            f"{_quoted(user)} {_quoted(self.upstream.password or '')}\n"
        )
        config = self.folder / "pgbouncer.ini"
        config.write_text(
            "\n".join(
                [
                    "[databases]",
                    f"{database} = {target}",
                    "[pgbouncer]",
                    "listen_addr = 127.0.0.1",
                    f"listen_port = {self.port}",
                    "unix_socket_dir =",
                    "auth_type = trust",
                    f"auth_file = {self.folder / 'userlist.txt'}",
                    f"pool_mode = {self.pool_mode}",
                    f"default_pool_size = {self.pool_size}",
                    "max_client_conn = 1000",
                    # A client that waits longer than this for a server connection gets an error:
                    # short, so that a starved pool shows up as a failure, not as a hang.
                    "query_wait_timeout = 20",
                    "",
                ]
            )
        )
        # PgBouncer refuses to run as root: as root it runs as `nobody`, who must read these.
        self.folder.chmod(0o755)
        for path in self.folder.iterdir():
            path.chmod(0o644)
        return config

    def start(self) -> "PgBouncer":
        config = self._write_config()
        command = [str(BINARY), str(config)]
        if os.geteuid() == 0:
            command[1:1] = ["-u", "nobody"]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=self.folder, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"pgbouncer exited:\n{self.log.read_text()}"
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise AssertionError(f"pgbouncer not listening in 20 s:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # immediate shutdown
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.folder, ignore_errors=True)

    def errors(self) -> str:
        """What PgBouncer logged as errors or warnings (a client's failed query shows here)."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(
            line for line in text.splitlines() if " ERROR " in line or " WARNING " in line
        )
