"""Alembic owns the schema: upgrade an empty database, find no drift, downgrade again."""

import asyncio

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from app.core.migrations import downgrade, upgrade
from app.models import metadata
from tests.databases import ENGINES, fresh_database, worker_id


@pytest.mark.parametrize("engine_name", ENGINES)
async def test_upgrade_to_head_matches_models_and_downgrades_to_base(engine_name, tmp_path):
    async with fresh_database(engine_name, f"mig_{worker_id()}", tmp_path) as url:
        await asyncio.to_thread(upgrade, url)
        engine = create_async_engine(url)
        try:
            async with engine.connect() as connection:

                def diff(sync_connection):
                    context = MigrationContext.configure(
                        sync_connection, opts={"compare_type": True}
                    )
                    return compare_metadata(context, metadata)

                assert await connection.run_sync(diff) == []
            await asyncio.to_thread(downgrade, url)
            async with engine.connect() as connection:
                tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
            assert tables <= {"alembic_version"}
        finally:
            await engine.dispose()
