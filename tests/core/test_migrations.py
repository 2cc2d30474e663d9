"""Alembic owns the schema: upgrade an empty database, find no drift, downgrade again."""

import asyncio

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from app.core.migrations import (
    _revision_lines,
    alembic_config,
    current_revisions,
    downgrade,
    head_revisions,
    upgrade,
)
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
                # The readiness probe's reading, without Alembic, is Alembic's.
                alembic_current = await connection.run_sync(
                    lambda c: frozenset(MigrationContext.configure(c).get_current_heads())
                )
                assert await current_revisions(connection) == alembic_current == head_revisions()
            await asyncio.to_thread(downgrade, url)
            async with engine.connect() as connection:
                tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
                assert await current_revisions(connection) == frozenset()
            assert tables <= {"alembic_version"}
        finally:
            await engine.dispose()


def test_the_heads_read_from_the_scripts_are_alembics():
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert head_revisions() == frozenset(script.get_heads())
    assert len(head_revisions()) == 1


def test_a_merge_script_follows_each_of_its_parents(tmp_path):
    merge = tmp_path / "merge.py"
    merge.write_text(
        'revision: str = "m3"\ndown_revision: tuple[str, str] = ("a1", "b2")\n'
        "branch_labels = None\n"
    )
    first = tmp_path / "first.py"
    first.write_text('revision = "a1"\ndown_revision = None\n')
    assert _revision_lines(merge) == ("m3", ("a1", "b2"))
    assert _revision_lines(first) == ("a1", ())


async def test_a_database_before_its_first_migration_is_at_no_revision(tmp_path):
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    try:
        async with engine.connect() as connection:
            assert await current_revisions(connection) == frozenset()
    finally:
        await engine.dispose()
