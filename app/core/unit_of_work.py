"""The request unit of work: one object owns a request's database work, from claim to commit.

`ProblemRoute` makes one per request and runs the route through it:

1. An `Idempotency-Key` on a POST is claimed in a transaction of its own; a finished claim is
   replayed (to a caller the replay guard lets through), a running one is 409.
2. Each attempt gets a fresh session (`SessionDep` hands it to the route and its services) in
   one transaction; a serialization failure, a deadlock or a connection found dead before the
   commit (the pool does not ping) runs the route again, up to 3 times.
   A read on PostgreSQL runs in autocommit instead (no BEGIN, no ROLLBACK; its session refuses
   to write: `db.create_read_sessionmaker`). A write's transaction begins at its first write
   (`prepared.BEGIN_AT_FIRST_WRITE`): its prepared reads before it run in autocommit.
3. The route returned: the answer is stored on the claim, a write's audit row joins the
   transaction, the outbox's events and these riders are sent in one statement
   (`outbox.write_before_commit`; the session's commit hook for any other commit), and it commits,
   all before the response leaves. A failed commit is an error answer, never a 2xx. A write
   that wrote nothing before that statement sends it alone, in autocommit: one statement is
   its whole transaction. One row may ride in it too (`db.entity_at_commit`, a completion):
   if that row is found taken, the statement fails as a whole and the route runs again with
   the row's INSERT sent at once (`GatedInsertTaken`; not counted as an attempt).
4. It raised: the transaction rolls back; the error answer is stored on the claim (or the claim
   released so a retry runs again).
5. The audit row of a read, a denial or a failed write is written by group commit
   (`audit.GroupCommit`): durable before the answer leaves, without a write in the read's
   transaction.
"""

import asyncio
import uuid
from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core import audit, idempotency, outbox
from app.core.errors import sqlstate_of, status_of
from app.core.prepared import BEGIN_AT_FIRST_WRITE
from app.core.transactions import is_stale_connection, is_transient, write_intent

MAX_ATTEMPTS = 3
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_SCOPE_KEY = "homework.unit_of_work"
# A write session's flags: it may send one row's INSERT at the commit (`db.entity_at_commit`);
# the table of the row it did send so.
INSERT_AT_COMMIT = "homework.insert_at_commit"
GATED_INSERT = "homework.gated_insert"


class GatedInsertTaken(Exception):
    """The commit's statement failed where it carried a row sent at commit: the request runs
    again with that row's INSERT sent at once (which finds it taken and answers so)."""


Handler = Callable[[Request], Awaitable[Response]]


class UnitOfWork:
    """A request's session and transaction, retries, idempotency claim, audit row and events."""

    def __init__(self, request: Request, audit_resource: str | None) -> None:
        self.request = request
        self.writes = request.method not in SAFE_METHODS
        state = request.app.state
        self.sessionmaker: async_sessionmaker[AsyncSession] = (
            state.sessionmaker
            if self.writes or state.read_sessionmaker is None
            else state.read_sessionmaker
        )
        # Facts are gathered for every request (the idempotency record names the client it
        # concerned); a row is written only for operations with an audit resource.
        self.audit = audit.AuditEntry(audit_resource or "")
        self.audited = audit_resource is not None
        self.claim: idempotency.Claim | None = None
        self._session: AsyncSession | None = None
        self._audit_committed = False
        self._insert_at_commit = True

    @staticmethod
    def of(request: Request) -> "UnitOfWork":
        try:
            uow: UnitOfWork = request.scope[_SCOPE_KEY]
        except KeyError:
            raise RuntimeError("SessionDep is available only in a ProblemRoute") from None
        return uow

    @property
    def session(self) -> AsyncSession:
        """The current attempt's session (opened on first use)."""
        if self._session is None:
            self._session = self.sessionmaker()
            if self.writes:
                info = self._session.info
                info[BEGIN_AT_FIRST_WRITE] = True
                info[INSERT_AT_COMMIT] = self._insert_at_commit
        return self._session

    def set_actor(self, actor: audit.Actor) -> None:
        """Who is calling, for the audit row (set by the principal dependency)."""
        self.audit.actor = actor

    async def run(self, handler: Handler) -> Response:
        self.request.scope[_SCOPE_KEY] = self
        self.audit.start()
        token = write_intent.set(self.writes)
        try:
            try:
                answer = await idempotency.claim_or_answer(self.request)
                if isinstance(answer, Response):
                    response = answer
                else:
                    self.claim = answer
                    response = await self._attempts(handler)
            except BaseException as exc:
                await self._audit_apart(status_of(exc))
                raise
            if not self._audit_committed:
                await self._audit_apart(response.status_code)
            return response
        finally:
            write_intent.reset(token)

    async def _attempts(self, handler: Handler) -> Response:
        attempt = 0
        while attempt < MAX_ATTEMPTS:
            attempt += 1
            committing = False
            try:
                response = await handler(self.request)
                committing = True
                await self._commit(response)
                return response
            except GatedInsertTaken:
                # Not a failed attempt: the same one again, the row's INSERT sent at once.
                await self._rollback()
                self._insert_at_commit = False
                attempt -= 1
            except BaseException as exc:
                await self._rollback()
                # A connection lost before the COMMIT was sent took its transaction with it; one
                # lost during the COMMIT may have committed, and is not run again.
                retry = is_transient(exc) or (is_stale_connection(exc) and not committing)
                if attempt < MAX_ATTEMPTS and retry:
                    await asyncio.sleep(0.01 * attempt)
                    continue
                await self._failed(exc)
                raise
            finally:
                await self._close()
        raise AssertionError("unreachable")

    async def _commit(self, response: Response) -> None:
        session = self.session
        client_id = self._client_id()
        if self.claim is not None:
            idempotency.store(session, self.claim, response, client_id)
        if self.writes and self.audited:
            audit.in_transaction(session, self.audit.row(self.request, response.status_code))
            self._audit_committed = True
        try:
            await outbox.write_before_commit(session)
        except DBAPIError as exc:
            # Class 23: an integrity constraint (the row sent at commit, taken meanwhile).
            if session.info.get(GATED_INSERT) and (sqlstate_of(exc) or "").startswith("23"):
                raise GatedInsertTaken(session.info[GATED_INSERT]) from exc
            raise
        await session.commit()

    async def _rollback(self) -> None:
        self._audit_committed = False
        if self._session is not None:
            await self._session.rollback()

    async def _close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def _failed(self, exc: BaseException) -> None:
        """After the rollback (its locks are gone): store the error answer or release the claim."""
        if self.claim is not None:
            await idempotency.after_failure(self.request, self.claim, exc, self._client_id())

    async def _audit_apart(self, status: int) -> None:
        if self.audited:
            writer: audit.GroupCommit = self.request.app.state.audit_writer
            await writer.write(self.audit.row(self.request, status))

    def _client_id(self) -> uuid.UUID | None:
        return self.audit.client_id(self.request)


def set_actor(request: Request, actor: audit.Actor) -> None:
    if _SCOPE_KEY in request.scope:
        UnitOfWork.of(request).set_actor(actor)
