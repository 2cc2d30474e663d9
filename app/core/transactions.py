"""Transactions: write intent for SQLite locking, and retries after transient failures."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from contextvars import ContextVar

from fastapi import Request, Response
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
MAX_ATTEMPTS = 3


def is_transient(exc: BaseException) -> bool:
    """A database error that a fresh attempt of the same transaction may not meet again."""
    return sqlstate_of(exc) in TRANSIENT_SQLSTATES


def retrying(
    handler: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """Run the route in a transaction of its own per attempt, and again (new session, new
    transaction) after a serialization failure or deadlock, up to MAX_ATTEMPTS times.

    Function-scoped dependencies (the session) register their teardown on the exit stack that
    FastAPI keeps in the request scope; each attempt gets a fresh one here, so an attempt's
    session commits or rolls back before the next begins. The response is put on
    `request.state.response` before that teardown, for the commit hooks (idempotency, audit)
    to see. While another attempt remains, the session dependency rolls back quietly."""

    async def wrapped(request: Request) -> Response:
        scope = request.scope
        if _STACK_KEY not in scope:  # not the FastAPI we know: no retries, but still correct
            response = await handler(request)
            request.state.response = response
            return response
        outer = scope[_STACK_KEY]
        try:
            for attempt in range(1, MAX_ATTEMPTS + 1):
                request.state.retry_pending = attempt < MAX_ATTEMPTS
                request.state.session = None
                try:
                    async with AsyncExitStack() as stack:
                        scope[_STACK_KEY] = stack
                        response = await handler(request)
                        request.state.response = response
                    return response
                except DBAPIError as exc:
                    if attempt == MAX_ATTEMPTS or not is_transient(exc):
                        raise
                    await asyncio.sleep(0.01 * attempt)
            raise AssertionError("unreachable")
        finally:
            scope[_STACK_KEY] = outer

    return wrapped


_STACK_KEY = "fastapi_function_astack"
