"""Throw-away test databases on SQLite and PostgreSQL, built by Alembic like production ones."""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

# The server the PostgreSQL run uses; .ci/run points it at a database of its own.
POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_POSTGRES = os.environ.get("REQUIRE_POSTGRES") == "1"
ENGINES = [e for e in os.environ.get("TEST_ENGINES", "sqlite,postgresql").split(",") if e]


def worker_id() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


async def _admin_connection() -> asyncpg.Connection:
    url = make_url(POSTGRES_URL)
    return await asyncpg.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        user=url.username or "postgres",
        password=url.password,
        database=url.database or "postgres",
        timeout=5,
    )


async def postgres_available() -> bool:
    try:
        connection = await _admin_connection()
    except (OSError, asyncpg.PostgresError):
        return False
    await connection.close()
    return True


async def require_postgres() -> None:
    if not await postgres_available():
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required (REQUIRE_POSTGRES=1) but {POSTGRES_URL} is down")
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}")


@asynccontextmanager
async def fresh_database(engine: str, name: str, tmp_dir: Path) -> AsyncIterator[str]:
    """An empty database (no tables) and its SQLAlchemy URL; dropped afterwards."""
    if engine == "sqlite":
        path = tmp_dir / f"{name}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        yield f"sqlite+aiosqlite:///{path}"
        return
    await require_postgres()
    base = make_url(POSTGRES_URL)
    db_name = f"{base.database or 'postgres'}_{name}".lower()[:63]
    admin = await _admin_connection()
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{db_name}"')
    finally:
        await admin.close()
    try:
        yield base.set(database=db_name).render_as_string(hide_password=False)
    finally:
        admin = await _admin_connection()
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        finally:
            await admin.close()
