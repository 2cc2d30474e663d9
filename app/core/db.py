"""Async engine, session factory, and the request's session (owned by its unit of work)."""

import logging
from collections.abc import Callable
from functools import cache, partial
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from sqlalchemy import Insert, bindparam, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.pool import NullPool

from app.core import jsonb
from app.core.config import Settings
from app.core.models import Base
from app.core.outbox import bound_columns, install_outbox, named, ride_along
from app.core.prepared import Prepared
from app.core.transactions import write_intent
from app.core.unit_of_work import GATED_INSERT, INSERT_AT_COMMIT, UnitOfWork

logger = logging.getLogger("homework.db")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # The driver's own transaction handling would break SAVEPOINTs; we emit BEGIN ourselves.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write_intent.get() else "BEGIN")


def create_engine(settings: Settings) -> AsyncEngine:
    options: dict[str, Any] = {
        "echo": settings.db_echo,
        "hide_parameters": True,
        "json_serializer": jsonb.dumps,
    }
    if settings.is_sqlite:
        # One file, many short connections: a pool only adds lock contention.
        engine = create_async_engine(settings.database_url, poolclass=NullPool, **options)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    connect_args: dict[str, Any] = {"timeout": settings.db_pool_timeout_seconds}
    asyncpg = settings.database_url.startswith("postgresql+asyncpg")
    if asyncpg:
        connect_args["server_settings"] = {"application_name": "homework-api"}
        if settings.database_pooler == "none":
            # A startup parameter: PgBouncer refuses it, so behind one the server (or the
            # pooler's connect_query) sets it instead; `_check_statement_timeout` says when not.
            connect_args["server_settings"]["statement_timeout"] = str(
                settings.db_statement_timeout_ms
            )
        connect_args |= pooler_connect_args(settings.database_pooler)
    engine = create_async_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_seconds,
        # No ping before each checkout (a round trip and ~0.3 ms of CPU per request): a
        # connection found dead invalidates the pool's older ones, and the unit of work runs
        # the request again on a new connection (`transactions.is_stale_connection`).
        connect_args=connect_args,
        **options,
    )
    if asyncpg and settings.database_pooler != "none":
        event.listen(
            engine.sync_engine,
            "first_connect",
            partial(_check_statement_timeout, settings.db_statement_timeout_ms),
        )
    return engine


def pooler_connect_args(pooler: str) -> dict[str, Any]:
    """asyncpg's arguments for a pooler in transaction mode, where each transaction may run on
    another server connection (and an autocommit statement is a transaction of its own).

    Both statement caches are off, so no prepared statement outlives its use: asyncpg then
    prepares every statement unnamed and parses it again in the same message sequence that
    binds and executes it (`Parse, Bind, Execute, Sync`: one pooler transaction). The named
    statements of the default caches (`__asyncpg_stmt_N__`) stay behind on a server connection
    that another client then gets ("already exists") or are missing on the one this client
    gets next ("does not exist"). Unique names (`prepared_statement_name_func`) do not help
    here: a read in autocommit prepares in one pooler transaction and executes in the next, on
    whatever server connection that gets ("does not exist", measured: most reads failed with
    ten concurrent readers). The price is a second parse per statement. The client-side pool
    stays: a pooled connection to PgBouncer is cheap and spares a connect per request."""
    if pooler == "none":
        return {}
    return {"statement_cache_size": 0, "prepared_statement_cache_size": 0}


def _check_statement_timeout(expected_ms: int, dbapi_connection: Any, _record: Any) -> None:
    """Behind a pooler the API cannot set `statement_timeout` as it connects: say so once per
    process when the server does not apply DB_STATEMENT_TIMEOUT_MS."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SELECT setting FROM pg_settings WHERE name = 'statement_timeout'")
        row = cursor.fetchone()
    finally:
        cursor.close()
        dbapi_connection.rollback()
    actual = int(row[0]) if row else 0
    if actual != expected_ms:
        logger.warning(
            "statement_timeout is %s ms behind DATABASE_POOLER, not DB_STATEMENT_TIMEOUT_MS=%s: "
            "set it in the pooler (PgBouncer: connect_query) or on the role "
            "(ALTER ROLE ... SET statement_timeout); see README, Configure it",
            actual,
            expected_ms,
            extra={"statement_timeout_ms": actual, "expected_ms": expected_ms},
        )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    install_outbox()  # every session writes the events its transaction queued
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


class ReadOnlySession(Session):
    """The session of a read request: anything that would write is a programming error."""


@event.listens_for(ReadOnlySession, "before_flush")
def _no_flush(session: Session, *_: Any) -> None:
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("A read request tried to write (a flush with changes).")


@event.listens_for(ReadOnlySession, "do_orm_execute")
def _no_write_statement(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        raise RuntimeError("A read request tried to write (an INSERT, UPDATE or DELETE).")


def create_read_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession] | None:
    """Sessions for read requests on PostgreSQL: in autocommit, so a read sends no BEGIN and no
    ROLLBACK, two of its round trips. Each statement still sees its own snapshot, as it does in
    a READ COMMITTED transaction (the default), so nothing a read answers changes; a read never
    writes (its audit row goes through the group commit), and these sessions refuse to. None on
    SQLite, where a round trip costs nothing and BEGIN is ours (`_sqlite_begin`)."""
    if engine.dialect.name != "postgresql":
        return None
    return async_sessionmaker(
        engine.execution_options(isolation_level="AUTOCOMMIT"),
        expire_on_commit=False,
        autoflush=False,
        sync_session_class=ReadOnlySession,
    )


async def get_session(request: Request) -> AsyncSession:
    """The request's session: its unit of work owns the transaction, the commit before the
    response and the rollback on error (app/core/unit_of_work.py)."""
    return UnitOfWork.of(request).session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


def insert_unless_taken(
    session: AsyncSession, entity: Any, values: dict[str, Any], *, conflict_on: Any = None
) -> Any:
    """`INSERT ... ON CONFLICT DO NOTHING` in the session's dialect (PostgreSQL or SQLite): the
    unique constraints (or only `conflict_on`'s) decide, and a RETURNING clause added by the
    caller tells whether the row went in."""
    insert = _dialect_insert(session.get_bind().dialect.name)
    return insert(entity).values(values).on_conflict_do_nothing(index_elements=conflict_on)


Stored = TypeVar("Stored", bound=Base)


async def entity_unless_taken(
    session: AsyncSession, model: type[Stored], values: dict[str, Any]
) -> Stored | None:
    """Insert a row of `model` unless a unique constraint finds it taken (`insert_unless_taken`)
    and return it as a (transient) instance of `model`, None when it was taken. The columns
    `values` leaves out take their defaults here, so the instance holds what was stored. One
    prepared statement per model and dialect (`core.prepared`): no statement building, cache
    key or ORM bulk-insert machinery per call."""
    statement, defaults = _entity_insert(model.__table__, session.get_bind().dialect.name)
    row = _with_defaults(defaults, values)
    if not await statement.fetch(session, **row):
        return None
    return model(**row)


async def entity_at_commit(
    session: AsyncSession, model: type[Stored], values: dict[str, Any]
) -> Stored | None:
    """`entity_unless_taken`, with the INSERT sent at the commit when it can be: then it rides
    in the commit's one statement with the events and the audit row (`outbox.ride_along`), and
    a request that wrote nothing before sends that statement alone, in autocommit, with no
    BEGIN and no COMMIT. The row is assumed free: were it taken, the statement fails as a
    whole and the request's unit of work runs the request again with the INSERT sent at once
    (`unit_of_work.GatedInsertTaken`), which then finds it taken and answers as a caller of
    `entity_unless_taken` does. Nothing between this call and the commit may depend on the
    row being stored.

    At once instead (`entity_unless_taken`) outside a request's write session, inside a
    savepoint, for a second such row of the session, or away from PostgreSQL."""
    info = session.info
    if (
        not info.get(INSERT_AT_COMMIT)
        or session.in_nested_transaction()
        or session.get_bind().dialect.name != "postgresql"
    ):
        return await entity_unless_taken(session, model, values)
    statement, defaults = _entity_insert_at_commit(model.__table__)
    row = _with_defaults(defaults, values)
    info[INSERT_AT_COMMIT] = False  # one per commit
    info[GATED_INSERT] = model.__tablename__
    ride_along(session, statement, named(_GATED_PREFIX, row))
    return model(**row)


_GATED_PREFIX = "gated_"


@cache
def _entity_insert_at_commit(table: Any) -> tuple[Insert, dict[str, Callable[[], Any]]]:
    """`INSERT INTO <table> (every column) VALUES (:gated_column...)`, with no ON CONFLICT:
    a taken row fails the statement it rides in."""
    names = [column.name for column in table.c]
    statement = postgresql.insert(table).values(bound_columns(table, _GATED_PREFIX, names))
    return statement, {column.name: _default_of(column) for column in table.c}


@cache
def _entity_insert(table: Any, dialect_name: str) -> tuple[Prepared, dict[str, Callable[[], Any]]]:
    """`INSERT INTO <table> (every column) VALUES (:column...) ON CONFLICT DO NOTHING RETURNING
    id`, and each column's default as a function of nothing (None when it has none)."""
    statement = (
        _dialect_insert(dialect_name)(table)
        .values({column.name: bindparam(column.name, type_=column.type) for column in table.c})
        .on_conflict_do_nothing()
        .returning(table.c.id)
    )
    return Prepared(statement), {column.name: _default_of(column) for column in table.c}


def _with_defaults(
    defaults: dict[str, Callable[[], Any]], values: dict[str, Any]
) -> dict[str, Any]:
    """`values`, and each column it leaves out with its default."""
    row = {name: default() for name, default in defaults.items() if name not in values}
    row.update(values)
    return row


def _default_of(column: Any) -> Callable[[], Any]:
    default = column.default
    if default is None:
        return lambda: None
    if default.is_callable:
        return partial(default.arg, None)  # SQLAlchemy's wrapper takes an execution context
    return lambda: default.arg


def _dialect_insert(dialect_name: str) -> Any:
    """The INSERT with ON CONFLICT of the dialect: PostgreSQL's, or SQLite's."""
    return postgresql.insert if dialect_name == "postgresql" else sqlite.insert
