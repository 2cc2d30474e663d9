"""Statements built once, for the hot paths: sent straight to asyncpg on PostgreSQL.

A statement of the SQLAlchemy Core, with named `bindparam`s, is built at import. On PostgreSQL
with asyncpg it is compiled once for the dialect and executed on the session's own driver
connection: no statement building, cache key, execution context or result processing per
call, which is most of a small statement's CPU in the ORM. In a session's transaction (a
write's) the driver connection's transaction is begun first, as SQLAlchemy's own adapter
begins it before its first statement, so the statement runs inside it and the session's
COMMIT or ROLLBACK ends it; a request's write session begins it at its first write instead
(`BEGIN_AT_FIRST_WRITE`). Elsewhere (SQLite) it runs through the session as any statement.

What this asks of a statement, so that both ways give the same rows:
- parameters as SQLAlchemy takes them (each goes through its type's bind processor, as
  SQLAlchemy would: a dict to JSON, an enum to its value...); a list only through `any_of`
  (one array parameter on PostgreSQL, an expanding `IN` elsewhere);
- results read by position, or unpacked; JSON comes back parsed on both (asyncpg decodes jsonb
  with the dialect's codec), instants aware in UTC, enums as their string value.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from asyncpg import InterfaceError, PostgresConnectionError
from sqlalchemy import ARRAY, Boolean, ColumnElement, Executable, bindparam
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal

# A session whose transaction begins at its first write (set by the request's unit of work on
# a write's session): until then its prepared reads run in autocommit, each with its own
# snapshot, as the first statements of a READ COMMITTED transaction would; and the last
# statement (`Prepared.last`) of a session that wrote nothing before it runs alone, in a
# transaction of its own, with no BEGIN and no COMMIT sent.
BEGIN_AT_FIRST_WRITE = "homework.begin_at_first_write"


class Prepared:
    """One statement; `await stmt.fetch(session, name=value, ...)` gives its rows."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self.writes = bool(getattr(statement, "is_dml", False))
        self._compiled: _Compiled | None = None

    def _for(self, dialect: Dialect) -> "_Compiled":
        compiled = self._compiled
        if compiled is None or compiled.dialect is not dialect:
            done = self.statement.compile(dialect=dialect)  # type: ignore[attr-defined]
            names = tuple(done.positiontup or ())
            # Values the statement carries itself (a `literal`); the others must be given.
            carried = {name: done.params[name] for name in names if not done.binds[name].required}
            processors = done._bind_processors
            compiled = self._compiled = _Compiled(
                dialect,
                done.string,
                names,
                carried,
                tuple(processors.get(name) for name in names),
            )
        return compiled

    async def fetch_named(self, session: AsyncSession, **params: Any) -> list[Any]:
        """The rows, each read by column name as an attribute (`row.title`)."""
        rows = await self.fetch(session, **params)
        return [row if hasattr(row, "_fields") else Named(row) for row in rows]

    async def fetch(self, session: AsyncSession, **params: Any) -> Sequence[Sequence[Any]]:
        begin = self.writes or not session.info.get(BEGIN_AT_FIRST_WRITE)
        return await self._run(session, params, begin=begin, flush=session.autoflush)

    async def last(self, session: AsyncSession, **params: Any) -> Sequence[Sequence[Any]]:
        """The rows of the session's last statement before its COMMIT. In a session that
        begins at its first write (`BEGIN_AT_FIRST_WRITE`) and wrote nothing yet, it runs
        alone in autocommit: its own transaction, committed when it answers (the COMMIT that
        follows sends nothing). Whatever the session holds unflushed is flushed first, so it
        joins the same transaction."""
        begin = not session.info.get(BEGIN_AT_FIRST_WRITE)
        return await self._run(session, params, begin=begin, flush=True)

    async def _run(
        self, session: AsyncSession, params: dict[str, Any], *, begin: bool, flush: bool
    ) -> Sequence[Sequence[Any]]:
        connection = await session.connection()
        if connection.dialect.driver != "asyncpg":
            return (await session.execute(self.statement, params)).all()
        if flush and (session.new or session.dirty or session.deleted):
            await session.flush()  # as the session's own execute would, before the statement
        compiled = self._for(connection.dialect)
        sql = compiled.sql
        values = compiled.values(params)
        raw = await connection.get_raw_connection()
        adapted: Any = raw.dbapi_connection  # SQLAlchemy's adapter of the asyncpg connection
        driver, sync = raw.driver_connection, connection.sync_connection
        assert adapted is not None and driver is not None and sync is not None
        _observed(sync, "before_cursor_execute", sql, values)
        # The adapter's lock: one statement at a time on a connection, as its cursors do.
        async with adapted._execute_mutex:
            try:
                if begin and adapted._transaction is None and not adapted.autocommit:
                    await adapted._start_transaction()
                rows = await driver.fetch(sql, *values)
            except Exception as exc:
                # The adapter raises its DBAPI error with the driver's as the cause.
                cause = exc.__cause__ if isinstance(exc.__cause__, Exception) else exc
                raise _wrapped(connection, raw, driver, sql, cause) from cause
        _observed(sync, "after_cursor_execute", sql, values)
        return cast(Sequence[Sequence[Any]], rows)


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A statement compiled for a dialect: its SQL, its parameters' names in order, the values
    it carries itself and each parameter's bind processor (None: taken as it is)."""

    dialect: Dialect
    sql: str
    names: tuple[str, ...]
    carried: dict[str, Any]
    processors: tuple[Callable[[Any], Any] | None, ...]

    def values(self, params: Mapping[str, Any]) -> list[Any]:
        values = _ordered({**self.carried, **params} if self.carried else params, self.names)
        return [
            value if process is None else process(value)
            for process, value in zip(self.processors, values, strict=True)
        ]


class Named:
    """A row of the driver's, read by column name as an attribute, as SQLAlchemy's rows are."""

    __slots__ = ("_row",)

    def __init__(self, row: Any) -> None:
        self._row = row

    def __getattr__(self, name: str) -> Any:
        try:
            return self._row[name]
        except KeyError:
            raise AttributeError(name) from None


def _observed(sync: Connection, name: str, sql: str, values: list[Any]) -> None:
    """What SQLAlchemy tells of a statement it sends, told of this one too: the engine's echo
    log and its cursor-execute listeners (the tests and benchmarks that count round trips)."""
    if name == "before_cursor_execute" and sync.engine.echo:
        sync.engine.logger.info(sql)
    listeners = getattr(sync.dispatch, name)
    if listeners:
        listeners(sync, None, sql, values, None, False)


def _wrapped(
    connection: AsyncConnection, raw: Any, driver: Any, sql: str, exc: Exception
) -> Exception:
    """The driver's error as SQLAlchemy would have raised it, so that the error answers and
    the unit of work's retry treat it the same: a lost connection invalidates the pool's
    connections of its generation, as SQLAlchemy does on a disconnect (`Pool._invalidate`, the
    step it takes itself), and is raised as an OperationalError; a server error keeps its
    SQLSTATE."""
    lost = isinstance(exc, OSError | PostgresConnectionError | InterfaceError) or driver.is_closed()
    if lost:
        connection.sync_engine.pool._invalidate(raw, exc)
        return OperationalError(sql, None, exc, connection_invalidated=True)
    return DBAPIError(sql, None, exc)


def _ordered(params: Mapping[str, Any], names: tuple[str, ...]) -> list[Any]:
    try:
        return [params[name] for name in names]
    except KeyError as missing:
        raise TypeError(f"missing statement parameter {missing}") from None


class AnyOf(ColumnElement[bool]):
    """`column` is one of the list given as the parameter `name` (see `any_of`)."""

    inherit_cache = True
    type = Boolean()
    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("name", InternalTraversal.dp_string),
    ]

    def __init__(self, column: ColumnElement[Any], name: str) -> None:
        self.column, self.name = column, name


def any_of(column: Any, name: str) -> ColumnElement[bool]:
    """`column = ANY(:name)` with one array parameter on PostgreSQL, so the statement is the
    same whatever the list's length; `column IN (:name...)`, expanded, elsewhere."""
    return AnyOf(column, name)


@compiles(AnyOf, "postgresql")
def _any_of_postgresql(element: AnyOf, compiler: SQLCompiler, **kw: Any) -> str:
    values = bindparam(element.name, type_=ARRAY(element.column.type))
    return f"{compiler.process(element.column, **kw)} = ANY({compiler.process(values, **kw)})"


@compiles(AnyOf)
def _any_of(element: AnyOf, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.column.in_(bindparam(element.name, expanding=True)), **kw)
