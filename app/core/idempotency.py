"""Idempotency-Key on POST: the first answer is stored and replayed byte for byte.

How it holds together:
- Before the handler runs, the key is *claimed* in its own committed transaction (a unique
  row per principal and key). A second request with the key finds the claim: a different body
  is 422, a claim still in progress is 409, a finished one is replayed.
- A successful answer is written onto the claim inside the request's own transaction (the
  session dependency commits it together with the change), so a stored answer always
  describes a change that really happened, and a rolled-back change leaves no answer.
- Error answers other than 422 and 429 are stored too, in a separate transaction, because the
  request's own transaction rolls back. 422s and 429s release the claim instead.
- Claims older than the in-progress timeout (a crashed process) may be taken over; rows expire
  after 24 hours and the worker purges them.
"""

import hashlib
import json
import uuid
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any

from fastapi import Request, Response
from sqlalchemy import Integer, LargeBinary, String, UniqueConstraint, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from app.core.errors import AppError, problem_response, request_id_of
from app.core.models import Base, IdMixin
from app.core.time import utcnow
from app.core.transactions import writing

HEADER = "Idempotency-Key"
TTL = timedelta(hours=24)
IN_PROGRESS_TIMEOUT = timedelta(seconds=60)
NOT_STORED = frozenset({422, 429})
_KEPT_HEADERS = ("content-type", "location", "etag")


class IdempotencyRecord(IdMixin, Base):
    __tablename__ = "idempotency_key"
    __table_args__ = (UniqueConstraint("principal", "key"),)

    principal: Mapped[str] = mapped_column(String(80))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    headers: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    body: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    locked_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


def _problem(request: Request, status: int, slug: str, detail: str) -> Response:
    return problem_response(
        status,
        slug=slug,
        detail=detail,
        instance=request.url.path,
        request_id=request_id_of(request),
        errors=[{"loc": ["header", HEADER], "msg": detail, "type": slug}]
        if status == 422
        else None,
    )


def _valid_key(key: str) -> bool:
    return 1 <= len(key) <= 255 and all(33 <= ord(c) <= 126 for c in key)


def _replay(record: IdempotencyRecord) -> Response:
    headers = dict(record.headers or {})
    headers["Idempotent-Replayed"] = "true"
    return Response(
        content=record.body or b"", status_code=record.status_code or 200, headers=headers
    )


async def _claim(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: str,
    key: str,
    fingerprint: str,
    in_progress_timeout: timedelta = IN_PROGRESS_TIMEOUT,
) -> IdempotencyRecord | str:
    """The new claim, or what to answer: "replay:<id>", "mismatch", "in_progress"."""
    now = utcnow()
    async with writing(sessionmaker) as session:
        existing = await session.scalar(
            select(IdempotencyRecord).where(
                IdempotencyRecord.principal == principal, IdempotencyRecord.key == key
            )
        )
        if existing is not None and existing.expires_at <= now:
            await session.delete(existing)
            await session.flush()
            existing = None
        if existing is not None:
            if existing.fingerprint != fingerprint:
                return "mismatch"
            if existing.status_code is not None:
                return existing  # finished: replay it
            if now - existing.locked_at < in_progress_timeout:
                return "in_progress"
            existing.locked_at = now  # the first attempt died; this one takes over
            return f"taken:{existing.id}"
        record = IdempotencyRecord(
            principal=principal,
            key=key,
            fingerprint=fingerprint,
            expires_at=now + TTL,
            locked_at=now,
        )
        session.add(record)
        try:
            await session.flush()
        except IntegrityError:
            return "in_progress"  # a concurrent request claimed it first
        return f"taken:{record.id}"


async def release(sessionmaker: async_sessionmaker[AsyncSession], claim_id: Any) -> None:
    async with writing(sessionmaker) as session:
        await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == claim_id))


def stored_values(response: Response) -> dict[str, Any]:
    headers = {k: v for k, v in response.headers.items() if k.lower() in _KEPT_HEADERS}
    return {"status_code": response.status_code, "headers": headers, "body": bytes(response.body)}


async def finish_in_session(session: AsyncSession, claim_id: Any, response: Response) -> None:
    """Store the answer on the claim inside the request's own transaction."""
    await session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.id == claim_id)
        .values(**stored_values(response))
    )


async def before_commit(request: Request, session: AsyncSession) -> None:
    """Called by the session dependency just before it commits the request's transaction."""
    claim_id = getattr(request.state, "idempotency_claim", None)
    if claim_id is None:
        return
    request.state.idempotency_handled = True
    response = getattr(request.state, "response", None)
    if response is None or response.status_code in NOT_STORED or not hasattr(response, "body"):
        await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == claim_id))
    else:
        await finish_in_session(session, claim_id, response)


async def after_rollback(request: Request, exc: BaseException) -> None:
    """Called by the session dependency after it rolled the request back (its locks are gone):
    store the error answer, or release the claim so that a retry runs again."""
    claim_id = getattr(request.state, "idempotency_claim", None)
    if claim_id is None:
        return
    request.state.idempotency_handled = True
    sessionmaker = request.app.state.sessionmaker
    if isinstance(exc, AppError) and exc.status not in NOT_STORED:
        rendered = await request.app.exception_handlers[AppError](request, exc)
        async with writing(sessionmaker) as session:
            await finish_in_session(session, claim_id, rendered)
    else:
        await release(sessionmaker, claim_id)


Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def idempotent(handler: Handler) -> Handler:
    """Wrap a POST route's handler (see the module docstring)."""

    async def wrapped(request: Request) -> Response:
        key = request.headers.get(HEADER)
        scope_of = getattr(request.app.state, "idempotency_scope", None)
        if request.method != "POST" or key is None or scope_of is None:
            return await handler(request)
        if not _valid_key(key):
            return _problem(
                request,
                422,
                "idempotency-key-invalid",
                "Idempotency-Key must be 1 to 255 printable ASCII characters.",
            )
        principal = scope_of(request)
        if principal is None:  # unauthenticated routes (token endpoint): nothing to scope to
            return await handler(request)
        body = await request.body()
        fingerprint = hashlib.sha256(
            json.dumps([request.url.path, request.url.query]).encode() + b"\0" + body
        ).hexdigest()
        sessionmaker = request.app.state.sessionmaker
        timeout = timedelta(seconds=request.app.state.settings.idempotency_in_progress_seconds)
        claim = await _claim(sessionmaker, principal, key, fingerprint, timeout)
        if isinstance(claim, IdempotencyRecord):
            return _replay(claim)
        if claim == "mismatch":
            return _problem(
                request,
                422,
                "idempotency-key-reused",
                "This Idempotency-Key was used with another request body.",
            )
        if claim == "in_progress":
            return _problem(
                request,
                409,
                "idempotency-key-in-progress",
                "A request with this Idempotency-Key is still running; retry later.",
            )
        claim_id = uuid.UUID(claim.split(":", 1)[1])
        request.state.idempotency_claim = claim_id
        try:
            response = await handler(request)
        except BaseException:
            # The request's session (if it opened one) still holds its transaction here; it
            # rolls back after this frame and then calls after_rollback(). Without a session
            # nothing is locked, so the claim is released right away.
            if getattr(request.state, "session", None) is None:
                await release(sessionmaker, claim_id)
            raise
        return response

    return wrapped
