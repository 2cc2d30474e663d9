"""Alembic, driven from code: locate the scripts, upgrade, and tell whether a database is at head.

Alembic is imported only to migrate: the server's readiness probe reads the heads from the
scripts' own `revision` / `down_revision` lines and the database's revisions with one SELECT,
so a serving process never loads Alembic (~8 MB of its memory). A test holds both readings
equal to Alembic's (tests/core/test_migrations.py).
"""

import ast
import asyncio
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

if TYPE_CHECKING:
    from alembic.config import Config

_PROJECT_ROOT = Path(__file__).resolve().parents[2]


def migrations_dir() -> Path:
    for candidate in (_PROJECT_ROOT / "migrations", Path.cwd() / "migrations"):
        if (candidate / "env.py").exists():
            return candidate
    raise FileNotFoundError("migrations/ not found next to the app or in the working directory")


def alembic_config(database_url: str, pooler: str = "none") -> "Config":
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["database_url"] = database_url
    config.attributes["database_pooler"] = pooler  # DATABASE_POOLER (migrations/env.py)
    return config


def upgrade(database_url: str, revision: str = "head", *, pooler: str = "none") -> None:
    """Blocking; runs its own event loop, so call it from a thread when one is already running."""
    from alembic import command

    command.upgrade(alembic_config(database_url, pooler), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    from alembic import command

    command.downgrade(alembic_config(database_url), revision)


async def upgrade_async(database_url: str, revision: str = "head") -> None:
    await asyncio.to_thread(upgrade, database_url, revision)


def _revision_lines(script: Path) -> tuple[str, tuple[str, ...]]:
    """A script's `revision` and the revisions it follows (`down_revision`: none, one or a
    merge's tuple), read from its module-level assignments without importing it."""
    found: dict[str, object] = {}
    for node in ast.parse(script.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.AnnAssign | ast.Assign):
            targets = [node.target] if isinstance(node, ast.AnnAssign) else node.targets
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            for name in names:
                if name in ("revision", "down_revision") and node.value is not None:
                    found[name] = ast.literal_eval(node.value)
    down = found.get("down_revision")
    follows = tuple(down) if isinstance(down, tuple | list) else (down,) if down else ()
    return str(found["revision"]), tuple(map(str, follows))


@lru_cache
def head_revisions() -> frozenset[str]:
    """The revisions no script follows: what `alembic heads` prints."""
    revisions: set[str] = set()
    followed: set[str] = set()
    for script in (migrations_dir() / "versions").glob("*.py"):
        revision, follows = _revision_lines(script)
        revisions.add(revision)
        followed.update(follows)
    return frozenset(revisions - followed)


async def current_revisions(connection: AsyncConnection) -> frozenset[str]:
    """The revisions the database is at (`alembic current`); none before its first migration."""
    try:
        rows = (await connection.execute(text("SELECT version_num FROM alembic_version"))).all()
    except DBAPIError:  # no alembic_version table yet
        await connection.rollback()
        return frozenset()
    return frozenset(row[0] for row in rows)
