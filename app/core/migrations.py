"""Alembic, driven from code: locate the scripts, upgrade, and tell whether a database is at head."""

import asyncio
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

_PROJECT_ROOT = Path(__file__).resolve().parents[2]


def migrations_dir() -> Path:
    for candidate in (_PROJECT_ROOT / "migrations", Path.cwd() / "migrations"):
        if (candidate / "env.py").exists():
            return candidate
    raise FileNotFoundError("migrations/ not found next to the app or in the working directory")


def alembic_config(database_url: str, pooler: str = "none") -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["database_url"] = database_url
    config.attributes["database_pooler"] = pooler  # DATABASE_POOLER (migrations/env.py)
    return config


def upgrade(database_url: str, revision: str = "head", *, pooler: str = "none") -> None:
    """Blocking; runs its own event loop, so call it from a thread when one is already running."""
    command.upgrade(alembic_config(database_url, pooler), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)


async def upgrade_async(database_url: str, revision: str = "head") -> None:
    await asyncio.to_thread(upgrade, database_url, revision)


@lru_cache
def head_revisions() -> frozenset[str]:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return frozenset(script.get_heads())


async def current_revisions(connection: AsyncConnection) -> frozenset[str]:
    def read(sync_connection: Connection) -> frozenset[str]:
        return frozenset(MigrationContext.configure(sync_connection).get_current_heads())

    return await connection.run_sync(read)
