"""Idempotency-Key on POST: the first answer is stored and replayed byte for byte.

How it holds together:
- Before the handler runs, the key is *claimed* in its own committed transaction (a unique
  row per principal and key). A second request with the key finds the claim: a different body
  is 422, a claim still in progress is 409, a finished one is replayed.
- A successful answer is written onto the claim inside the request's own transaction (the
  unit of work commits it together with the change), so a stored answer always
  describes a change that really happened, and a rolled-back change leaves no answer.
- Error answers other than 422 and 429 are stored too, in a separate transaction, because the
  request's own transaction rolls back. 422s and 429s release the claim instead.
- Claims older than the in-progress timeout (a crashed process) may be taken over; rows expire
  after 24 hours and the worker purges them.
- Before a stored answer is replayed, the app's replay guard (`app.state.replay_guard`, if set)
  may refuse it: a replay is served only to a caller who could make the request now (an
  account deactivated since gets the guard's answer; the stored one stays).

What is stored reveals nothing to someone who reads the database: the `key` column holds the
SHA-256 of the caller's key, and each answer body is encrypted with AES-256-GCM under a key
derived (HKDF-SHA256) from the caller's raw key and principal. The raw key is never stored, so
only a retry with the same key can read the answer: one-time secrets (an API client's secret,
an invitation code) and client data in answers are safe at rest. Keys should be random (a
UUID): a guessable key gives its answer away to whoever guesses it. Each stored answer names
the client the request concerned (the one its audit row names), so erasing a client deletes it.
"""

import enum
import hashlib
import json
import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, NamedTuple

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from fastapi import Request, Response
from sqlalchemy import (
    Delete,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    Update,
    bindparam,
    delete,
    select,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from app.core.errors import AppError, field_error, problem_response, request_id_of
from app.core.ids import new_id
from app.core.models import Base, IdMixin
from app.core.outbox import bound, named, ride_along
from app.core.time import utcnow
from app.core.transactions import writing

HEADER = "Idempotency-Key"
TTL = timedelta(hours=24)
IN_PROGRESS_TIMEOUT = timedelta(seconds=60)
NOT_STORED = frozenset({422, 429})
_KEPT_HEADERS = ("content-type", "location", "etag")


class IdempotencyRecord(IdMixin, Base):
    __tablename__ = "idempotency_key"
    # The principal fixes the clinic; it rides along so the constraint holds inside one shard.
    __table_args__ = (UniqueConstraint("principal", "key", "clinic_id"),)

    principal: Mapped[str] = mapped_column(String(80))
    # The principal's clinic (from its token), so that the claim lives with the clinic's rows.
    clinic_id: Mapped[uuid.UUID]
    key: Mapped[str] = mapped_column(String(255))  # SHA-256 of the caller's key, hex
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    headers: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    body: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)  # sealed
    locked_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    # The client the request concerned (as its audit row names it), for erasure.
    client_id: Mapped[uuid.UUID | None] = mapped_column(default=None, index=True)


class Scope(NamedTuple):
    """Whose Idempotency-Keys a request's are: the principal (`user:<id>`, `api_client:<id>`)
    and its clinic."""

    principal: str
    clinic_id: uuid.UUID


def key_digest(key: str) -> str:
    """What the `key` column holds instead of the caller's key."""
    return hashlib.sha256(key.encode()).hexdigest()


def sealing_key(key: str, principal: str) -> bytes:
    """The AES-256 key of one caller's Idempotency-Key; only the caller's retry can derive it."""
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=None,
        info=b"idempotency-replay\0" + principal.encode(),
    )
    return hkdf.derive(key.encode())


def seal(secret: bytes, body: bytes) -> bytes:
    nonce = os.urandom(12)
    return nonce + AESGCM(secret).encrypt(nonce, body, None)


def unseal(secret: bytes, sealed: bytes) -> bytes:
    return AESGCM(secret).decrypt(sealed[:12], sealed[12:], None)


@dataclass(frozen=True)
class Claim:
    """The request's claim on its key: the row, and the key that seals its answer."""

    id: uuid.UUID
    secret: bytes


def _problem(request: Request, status: int, slug: str, detail: str) -> Response:
    return problem_response(
        status,
        slug=slug,
        detail=detail,
        instance=request.url.path,
        request_id=request_id_of(request),
        errors=[field_error(["header", HEADER], detail, slug)] if status == 422 else None,
    )


def _valid_key(key: str) -> bool:
    return 1 <= len(key) <= 255 and all(33 <= ord(c) <= 126 for c in key)


def _replay(record: IdempotencyRecord, secret: bytes) -> Response:
    headers = dict(record.headers or {})
    headers["Idempotent-Replayed"] = "true"
    return Response(
        content=unseal(secret, record.body) if record.body else b"",
        status_code=record.status_code or 200,
        headers=headers,
    )


async def _refused(request: Request) -> Response | None:
    """The app's answer instead of a replay, when the caller could not make the request now."""
    guard = getattr(request.app.state, "replay_guard", None)
    return None if guard is None else await guard(request)


async def _claim_fresh_key(
    sessionmaker: async_sessionmaker[AsyncSession],
    scope: Scope,
    key: str,
    fingerprint: str,
    now: datetime,
) -> uuid.UUID | None:
    """The common case, a key never seen, in one round trip on PostgreSQL: `INSERT ... ON
    CONFLICT DO NOTHING RETURNING id` in autocommit (one statement is its own transaction).
    None when the key exists (or on SQLite): the transactional path below decides."""
    engine = sessionmaker.kw.get("bind")
    if engine is None or engine.dialect.name != "postgresql":
        return None
    statement = (
        postgresql.insert(IdempotencyRecord)
        .values(
            id=new_id(),
            principal=scope.principal,
            clinic_id=scope.clinic_id,
            key=key,
            fingerprint=fingerprint,
            expires_at=now + TTL,
            locked_at=now,
        )
        .on_conflict_do_nothing()
        .returning(IdempotencyRecord.id)
    )
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        claimed: uuid.UUID | None = await autocommit.scalar(statement)
    return claimed


class Conflict(enum.Enum):
    mismatch = "mismatch"
    in_progress = "in_progress"


async def _claim(
    sessionmaker: async_sessionmaker[AsyncSession],
    scope: Scope,
    key: str,
    fingerprint: str,
    in_progress_timeout: timedelta = IN_PROGRESS_TIMEOUT,
) -> IdempotencyRecord | uuid.UUID | Conflict:
    """The finished record to replay, the id of the claim this request now holds, or why it
    may not run (another body, or still in progress). `key` is the key's digest."""
    now = utcnow()
    fresh = await _claim_fresh_key(sessionmaker, scope, key, fingerprint, now)
    if fresh is not None:
        return fresh
    async with writing(sessionmaker) as session:
        existing = await session.scalar(
            select(IdempotencyRecord).where(
                IdempotencyRecord.principal == scope.principal,
                IdempotencyRecord.key == key,
                IdempotencyRecord.clinic_id == scope.clinic_id,
            )
        )
        if existing is not None and existing.expires_at <= now:
            await session.delete(existing)
            await session.flush()
            existing = None
        if existing is not None:
            if existing.fingerprint != fingerprint:
                return Conflict.mismatch
            if existing.status_code is not None:
                return existing  # finished: replay it
            if now - existing.locked_at < in_progress_timeout:
                return Conflict.in_progress
            existing.locked_at = now  # the first attempt died; this one takes over
            return existing.id
        record = IdempotencyRecord(
            principal=scope.principal,
            clinic_id=scope.clinic_id,
            key=key,
            fingerprint=fingerprint,
            expires_at=now + TTL,
            locked_at=now,
        )
        session.add(record)
        try:
            await session.flush()
        except IntegrityError:
            return Conflict.in_progress  # a concurrent request claimed it first
        return record.id


async def release(sessionmaker: async_sessionmaker[AsyncSession], claim_id: Any) -> None:
    async with writing(sessionmaker) as session:
        await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == claim_id))


def _stored_values(claim: Claim, response: Response, client_id: uuid.UUID | None) -> dict[str, Any]:
    headers = {k: v for k, v in response.headers.items() if k.lower() in _KEPT_HEADERS}
    return {
        "status_code": response.status_code,
        "headers": headers,
        "body": seal(claim.secret, bytes(response.body)),
        "client_id": client_id,
    }


def store(
    session: AsyncSession, claim: Claim, response: Response, client_id: uuid.UUID | None
) -> None:
    """Store the answer on the claim inside the request's own transaction (or drop the claim
    for answers that are not stored), so it commits together with the change: the statement
    goes with the commit's events (`outbox.ride_along`), in one round trip on PostgreSQL."""
    if response.status_code in NOT_STORED or not hasattr(response, "body"):
        ride_along(session, _claim_dropped(), {"idempotency_id": claim.id})
        return
    values = named("idempotency_", _stored_values(claim, response, client_id))
    ride_along(session, _answer_stored(), {"idempotency_id": claim.id, **values})


_CLAIM = IdempotencyRecord.id == bindparam("idempotency_id", type_=IdempotencyRecord.id.type)


@cache
def _answer_stored() -> Update:
    """The UPDATE that stores an answer on its claim, built once (bound parameters)."""
    stored = bound(
        IdempotencyRecord, "idempotency_", ("status_code", "headers", "body", "client_id")
    )
    return (
        update(IdempotencyRecord)
        .where(_CLAIM)
        .values(stored)
        .execution_options(synchronize_session=False)
    )


@cache
def _claim_dropped() -> Delete:
    return delete(IdempotencyRecord).where(_CLAIM).execution_options(synchronize_session=False)


async def after_failure(
    request: Request, claim: Claim, exc: BaseException, client_id: uuid.UUID | None
) -> None:
    """After the request's transaction rolled back (its locks are gone): store the error answer
    in a transaction of its own, or release the claim so that a retry runs again."""
    sessionmaker = request.app.state.sessionmaker
    if isinstance(exc, AppError) and exc.status not in NOT_STORED:
        rendered = await request.app.exception_handlers[AppError](request, exc)
        async with writing(sessionmaker) as session:
            store(session, claim, rendered, client_id)
    else:
        await release(sessionmaker, claim.id)


async def claim_or_answer(request: Request) -> Claim | Response | None:
    """For a POST with an Idempotency-Key: the claim this request now holds, or the answer to
    give at once (a replay, 409 in progress, 422 another body or a malformed key). None when
    there is no key, or no caller to scope it to (the token endpoints)."""
    key = request.headers.get(HEADER)
    scope_of = getattr(request.app.state, "idempotency_scope", None)
    if request.method != "POST" or key is None or scope_of is None:
        return None
    if not _valid_key(key):
        return _problem(
            request,
            422,
            "idempotency-key-invalid",
            "Idempotency-Key must be 1 to 255 printable ASCII characters.",
        )
    scope: Scope | None = scope_of(request)
    if scope is None:
        return None
    body = await request.body()
    fingerprint = hashlib.sha256(
        json.dumps([request.url.path, request.url.query]).encode() + b"\0" + body
    ).hexdigest()
    timeout = timedelta(seconds=request.app.state.settings.idempotency_in_progress_seconds)
    secret = sealing_key(key, scope.principal)
    outcome = await _claim(
        request.app.state.sessionmaker, scope, key_digest(key), fingerprint, timeout
    )
    if isinstance(outcome, IdempotencyRecord):
        refused = await _refused(request)
        return refused if refused is not None else _replay(outcome, secret)
    if outcome is Conflict.mismatch:
        return _problem(
            request,
            422,
            "idempotency-key-reused",
            "This Idempotency-Key was used with another request body.",
        )
    if outcome is Conflict.in_progress:
        return _problem(
            request,
            409,
            "idempotency-key-in-progress",
            "A request with this Idempotency-Key is still running; retry later.",
        )
    return Claim(outcome, secret)
