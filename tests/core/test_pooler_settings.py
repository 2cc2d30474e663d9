"""DATABASE_POOLER: what the API changes in its database connections when a pooler such as
PgBouncer sits in front of PostgreSQL. In transaction mode consecutive transactions of one
connection may run on different server connections, so no prepared statement may outlive the
transaction that prepared it, and settings sent when connecting (`statement_timeout`) are
refused. tests/pooler runs the whole API behind a real PgBouncer."""

import logging

import pytest
from pydantic import ValidationError
from sqlalchemy import event, text

from app.core.config import ConfigError, Settings
from app.core.db import create_engine
from tests.conftest import make_settings

PG_URL = "postgresql+asyncpg://api@pgbouncer.internal:6432/homework"


def test_the_pooler_is_named_in_the_environment(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", PG_URL)
    assert Settings(_env_file=None, app_env="test").database_pooler == "none"
    monkeypatch.setenv("DATABASE_POOLER", "pgbouncer")
    assert Settings(_env_file=None, app_env="test").database_pooler == "pgbouncer"


def test_an_unknown_pooler_is_refused():
    with pytest.raises(ValidationError, match="database_pooler"):
        Settings(_env_file=None, app_env="test", database_url=PG_URL, database_pooler="pgpool")


def test_a_pooler_in_front_of_sqlite_is_a_configuration_error():
    with pytest.raises(ConfigError, match="DATABASE_POOLER=pgbouncer needs a PostgreSQL"):
        Settings(_env_file=None, app_env="test", database_pooler="pgbouncer")


@pytest.fixture
def postgres_url(database_url: str) -> str:
    if not database_url.startswith("postgresql"):
        pytest.skip("a pooler stands in front of PostgreSQL only")
    return database_url


def _connect_arguments(engine) -> list[dict]:
    """The keyword arguments each new connection of `engine` is made with."""
    seen: list[dict] = []

    @event.listens_for(engine.sync_engine, "do_connect")
    def record(dialect, connection_record, cargs, cparams):
        seen.append(dict(cparams))

    return seen


async def _prepared_statements_left_after_work(engine) -> int:
    """Run the same statements in three transactions and in autocommit, then count the named
    prepared statements left on the server connection (what a transaction pooler would hand
    to the next client that gets that server connection)."""
    async with engine.connect() as connection:
        for _ in range(3):
            async with connection.begin():
                await connection.execute(text("SELECT count(*) FROM clinic"))
                await connection.execute(text("SELECT count(*) FROM template"))
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(text("SELECT count(*) FROM clinic"))
        return await autocommit.scalar(text("SELECT count(*) FROM pg_prepared_statements"))


async def test_behind_pgbouncer_no_prepared_statement_outlives_its_use(postgres_url):
    engine = create_engine(make_settings(postgres_url, database_pooler="pgbouncer"))
    made_with = _connect_arguments(engine)
    try:
        assert await _prepared_statements_left_after_work(engine) == 0
    finally:
        await engine.dispose()
    (arguments,) = made_with
    # Both statement caches off (asyncpg's and SQLAlchemy's), so asyncpg prepares unnamed
    # statements and parses each again in the message sequence that runs it.
    assert arguments["statement_cache_size"] == 0
    assert arguments["prepared_statement_cache_size"] == 0
    # No unique statement names: a read in autocommit would prepare on one server connection
    # and run on another.
    assert "prepared_statement_name_func" not in arguments
    # PgBouncer refuses statement_timeout as a startup parameter; it tracks application_name.
    assert arguments["server_settings"] == {"application_name": "homework-api"}


async def test_directly_the_statements_are_cached_and_the_timeout_is_sent(postgres_url):
    engine = create_engine(make_settings(postgres_url, db_statement_timeout_ms=15_000))
    made_with = _connect_arguments(engine)
    try:
        # Named and cached per connection: cheaper directly, the failure behind a pooler.
        assert await _prepared_statements_left_after_work(engine) > 0
        async with engine.connect() as connection:
            assert await connection.scalar(text("SHOW statement_timeout")) == "15s"
    finally:
        await engine.dispose()
    (arguments,) = made_with
    assert "statement_cache_size" not in arguments
    assert arguments["server_settings"] == {
        "application_name": "homework-api",
        "statement_timeout": "15000",
    }


@pytest.fixture
def db_warnings():
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("homework.db")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


async def _server_statement_timeout_ms(url: str) -> int:
    engine = create_engine(make_settings(url, database_pooler="pgbouncer"))
    try:
        async with engine.connect() as connection:
            return int(
                await connection.scalar(
                    text("SELECT setting FROM pg_settings WHERE name = 'statement_timeout'")
                )
            )
    finally:
        await engine.dispose()


async def test_behind_a_pooler_a_missing_statement_timeout_is_logged_once(
    postgres_url, db_warnings
):
    server_ms = await _server_statement_timeout_ms(postgres_url)
    db_warnings.clear()  # that engine's own first connection may have warned
    engine = create_engine(
        make_settings(
            postgres_url, database_pooler="pgbouncer", db_statement_timeout_ms=server_ms + 1234
        )
    )
    try:
        for _ in range(2):
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    finally:
        await engine.dispose()
    (warning,) = db_warnings
    assert "DB_STATEMENT_TIMEOUT_MS" in warning.getMessage()
    assert warning.statement_timeout_ms == server_ms  # type: ignore[attr-defined]


async def test_behind_a_pooler_that_applies_the_timeout_nothing_is_logged(
    postgres_url, db_warnings
):
    server_ms = await _server_statement_timeout_ms(postgres_url)
    db_warnings.clear()
    engine = create_engine(
        make_settings(postgres_url, database_pooler="pgbouncer", db_statement_timeout_ms=server_ms)
    )
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    finally:
        await engine.dispose()
    assert db_warnings == []
