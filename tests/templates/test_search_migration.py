"""Upgrading a database that already holds templates fills their tags and search text: the
built-in library and a clinic's own templates are findable right after `homework-api migrate`."""

import asyncio
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from app.core.db import create_engine, create_sessionmaker
from app.core.migrations import upgrade
from app.templates.library import get_builtin
from app.templates.models import Template, TemplateVersion
from app.templates.search import normalized, search_text
from app.templates.service import builtin_template_id, builtin_version_id, sync_builtins
from tests.conftest import make_settings
from tests.databases import ENGINES, fresh_database, worker_id

BEFORE_TAGS = "d5a8c1e9f3b7"  # the revision before templates had tags and a search text
# The template table as it was at that revision.
_old_template = sa.Table(
    "template",
    sa.MetaData(),
    *(c._copy() for c in Template.__table__.columns if c.name not in ("tags", "search_text")),
)


@pytest.mark.parametrize("engine_name", ENGINES)
async def test_the_upgrade_backfills_tags_and_search_text(engine_name, tmp_path):
    gratitude = get_builtin("gratitude-journal")
    clinic_template_id = uuid.uuid4()
    async with fresh_database(engine_name, f"tagmig_{worker_id()}", tmp_path) as url:
        await asyncio.to_thread(upgrade, url, BEFORE_TAGS)
        engine = create_async_engine(url)
        try:
            async with engine.begin() as connection:
                for template_id, owner, slug, source, definition in (
                    (
                        builtin_template_id(gratitude.slug),
                        "builtin",
                        gratitude.slug,
                        "builtin",
                        gratitude.definition.model_dump(mode="json"),
                    ),
                    (
                        clinic_template_id,
                        str(uuid.uuid4()),
                        "grubeln",
                        "clinic",
                        gratitude.definition.model_dump(mode="json")
                        | {"title": "Grübeln stoppen", "description": "Wenn Ängste kreisen."},
                    ),
                ):
                    await connection.execute(
                        _old_template.insert().values(
                            id=template_id,
                            owner=owner,
                            slug=slug,
                            source=source,
                            status="active",
                            kind=definition["kind"],
                            title=definition["title"],
                            version=1,
                        )
                    )
                    await connection.execute(
                        TemplateVersion.__table__.insert().values(
                            id=builtin_version_id(slug, 1),
                            template_id=template_id,
                            number=1,
                            definition=definition,
                        )
                    )
        finally:
            await engine.dispose()

        await asyncio.to_thread(upgrade, url)

        app_engine = create_engine(make_settings(url))
        try:
            async with create_sessionmaker(app_engine)() as session:
                builtin = await session.get(Template, builtin_template_id(gratitude.slug))
                own = await session.get(Template, clinic_template_id)
                assert builtin is not None and own is not None
                # The library's tags as the migration knew them, and the migration's own copy
                # of the normalization agrees with the app's.
                assert {"journaling", "gratitude"} <= set(builtin.tags)
                assert builtin.search_text == search_text(
                    gratitude.slug,
                    "Three good things",
                    gratitude.definition.description,
                    "journal",
                    builtin.tags,
                )
                assert own.tags == []
                assert own.search_text == search_text(
                    "grubeln", "Grübeln stoppen", "Wenn Ängste kreisen.", "journal", []
                )
                found = await session.scalars(
                    sa.select(Template.slug).where(
                        Template.search_text.contains(normalized("ÄNGSTE"))
                    )
                )
                assert found.all() == ["grubeln"]

            # `migrate` then syncs the library: the backfilled built-in needs no new version.
            async with create_sessionmaker(app_engine)() as session, session.begin():
                await sync_builtins(session)
                synced = await session.get(Template, builtin_template_id(gratitude.slug))
                assert synced is not None and synced.version == 1
                assert synced.tags == list(gratitude.tags)
        finally:
            await app_engine.dispose()
