"""The test world: a migrated database per engine and xdist worker, an app on it, a client for it.

Every test that uses `client` or `db` runs once on SQLite and once on PostgreSQL. Isolation:
after each test every table is emptied, so tests see committed data exactly as the app does.
"""

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.audit import AuditPrunePermit
from app.core.config import Settings
from app.core.migrations import upgrade_async
from app.main import create_app
from app.models import metadata
from tests.databases import ENGINES, REQUIRE_POSTGRES, fresh_database, worker_id

pytest_plugins = ["tests.hang_report"]


def make_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "app_env": "test",
        "db_pool_size": 5,
        "db_max_overflow": 20,
        "log_level": "WARNING",
        # The shared test app serves thousands of requests from one "IP"; the rate-limit tests
        # build apps with small limits of their own.
        "rate_limit_per_minute": 1_000_000,
        "rate_limit_anonymous_per_minute": 1_000_000,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg, arg-type]


@pytest.fixture(scope="session", params=ENGINES)
async def database_url(request: pytest.FixtureRequest, tmp_path_factory) -> AsyncIterator[str]:
    async with fresh_database(
        request.param, f"t_{worker_id()}", tmp_path_factory.mktemp(request.param)
    ) as url:
        await upgrade_async(url)
        await _sync_builtins(url)
        yield url


async def _sync_builtins(url: str) -> None:
    from app.core.db import create_engine, create_sessionmaker
    from app.programs.service import sync_builtins as sync_builtin_programs
    from app.templates.service import sync_builtins

    engine = create_engine(make_settings(url))
    async with create_sessionmaker(engine)() as session, session.begin():
        await sync_builtins(session)
        await sync_builtin_programs(session)
    await engine.dispose()


@pytest.fixture(scope="session")
async def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[object]:
    application = create_app(settings)
    yield application
    await application.state.engine.dispose()


async def empty_all_tables(application: object) -> None:
    """Every row a test made goes; the built-in library (reference data) stays."""
    from app.programs.models import Program, ProgramVersion
    from app.templates.models import BUILTIN_OWNER, Template, TemplateVersion

    builtin_ids = select(Template.id).where(Template.owner == BUILTIN_OWNER)
    builtin_programs = select(Program.id).where(Program.owner == BUILTIN_OWNER)
    keep = {
        "template": Template.owner != BUILTIN_OWNER,
        "template_version": TemplateVersion.template_id.not_in(builtin_ids),
        "program": Program.owner != BUILTIN_OWNER,
        "program_version": ProgramVersion.program_id.not_in(builtin_programs),
    }
    async with application.state.engine.begin() as connection:  # type: ignore[attr-defined]
        # The audit table is append-only; a permit row lets this transaction clear it.
        await connection.execute(insert(AuditPrunePermit).values(id=1))
        for table in reversed(metadata.sorted_tables):
            if table.name == "audit_prune_permit":
                continue
            condition = keep.get(table.name)
            stmt = delete(table) if condition is None else delete(table).where(condition)
            await connection.execute(stmt)
        await connection.execute(delete(AuditPrunePermit))


@pytest.fixture
async def client(app: object) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
    await empty_all_tables(app)


@pytest.fixture
async def db(app: object, client: httpx.AsyncClient) -> AsyncIterator[AsyncSession]:
    """A session for arranging and inspecting data; commit explicitly to make it visible."""
    async with app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        yield session


def _engine_of(nodeid: str) -> str | None:
    for engine in ("sqlite", "postgresql"):
        if f"[{engine}" in nodeid or f"-{engine}]" in nodeid or f"-{engine}-" in nodeid:
            return engine
    return None


def _engine_counts(config) -> dict[str, dict[str, int]]:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    counts: dict[str, dict[str, int]] = {}
    for outcome in ("passed", "failed", "skipped", "error"):
        for report in reporter.stats.get(outcome, []) if reporter else []:
            if outcome == "passed" and getattr(report, "when", "call") != "call":
                continue
            engine = _engine_of(getattr(report, "nodeid", ""))
            if engine:
                counts.setdefault(engine, {}).setdefault(outcome, 0)
                counts[engine][outcome] += 1
    return counts


def pytest_sessionfinish(session, exitstatus) -> None:
    """With REQUIRE_POSTGRES=1 a run of engine-parametrized tests in which none passed on
    PostgreSQL is a failure. (The steps that run alone, sdk, faults and contract, are
    PostgreSQL-only and fail by themselves when it is down.)"""
    parametrized = any(_engine_of(item.nodeid) for item in getattr(session, "items", []))
    if (
        REQUIRE_POSTGRES
        and parametrized
        and not _engine_counts(session.config).get("postgresql", {}).get("passed")
    ):
        session.config._homework_pg_missing = True
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """Print how many tests ran on each engine, so a CI log shows both."""
    counts = _engine_counts(config)
    terminalreporter.section("database engines")
    for engine in ENGINES:
        figures = ", ".join(f"{n} {k}" for k, n in sorted(counts.get(engine, {}).items()))
        terminalreporter.write_line(f"{engine}: {figures or 'no tests'}")
    if getattr(config, "_homework_pg_missing", False):
        terminalreporter.write_line("FAILED: REQUIRE_POSTGRES=1 but no test passed on PostgreSQL")


@pytest.fixture
async def world(db: AsyncSession, app: object):
    from tests.factories import build_world

    return await build_world(db, app)
