"""Alembic environment: async engines, the app's metadata, batch mode on SQLite."""

import asyncio

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from app.core.config import get_settings
from app.core.db import pooler_connect_args
from app.models import metadata

config = context.config


def _database_url() -> str:
    url = config.attributes.get("database_url")
    return url or get_settings().database_url


def _database_pooler() -> str:
    if "database_url" in config.attributes:
        return str(config.attributes.get("database_pooler", "none"))
    return get_settings().database_pooler


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run_migrations_offline() -> None:
    context.configure(
        url=_database_url(),
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_sync(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_migrations_online() -> None:
    url = _database_url()
    # Behind a transaction pooler no prepared statement may outlive its transaction (core/db.py).
    pooler = _database_pooler()
    connect_args = pooler_connect_args(pooler) if url.startswith("postgresql+asyncpg") else {}
    engine = create_async_engine(url, poolclass=pool.NullPool, connect_args=connect_args)
    async with engine.connect() as connection:
        await connection.run_sync(_run_sync)
        await connection.commit()
    await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_sync(connection)
    else:
        asyncio.run(run_migrations_online())
