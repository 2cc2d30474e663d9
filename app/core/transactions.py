"""Transactions: write intent for SQLite locking, and which failures a retry may cure."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.errors import sqlstate_of

# Whether the current request may write. On SQLite a writing transaction starts with
# BEGIN IMMEDIATE: it waits for the write lock up front (busy_timeout) instead of failing with
# "database is locked" when another writer committed after it began reading.
write_intent: ContextVar[bool] = ContextVar("write_intent", default=False)


@asynccontextmanager
async def writing(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session in a transaction that will write (BEGIN IMMEDIATE on SQLite)."""
    token = write_intent.set(True)
    try:
        async with sessionmaker() as session, session.begin():
            yield session
    finally:
        write_intent.reset(token)


TRANSIENT_SQLSTATES = frozenset({"40001", "40P01"})  # serialization failure, deadlock


def is_transient(exc: BaseException) -> bool:
    """A database error that a fresh attempt of the same transaction may not meet again."""
    return sqlstate_of(exc) in TRANSIENT_SQLSTATES


def is_stale_connection(exc: BaseException) -> bool:
    """The connection was found dead (the server restarted, a pooler or the network dropped it)
    and has been invalidated: the pool does not check connections before handing them out, so
    this is how a stale one shows, and a fresh attempt on a new connection is the cure."""
    return isinstance(exc, DBAPIError) and exc.connection_invalidated
