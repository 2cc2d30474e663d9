"""Baseline apps for the load benchmark, served by uvicorn with the same flags as the real app.

    uvicorn bench.load.baselines:create_a --factory --loop uvloop --http httptools ...

- A, `GET /a`: a bare FastAPI app answering a static JSON object. The ceiling of the stack
  (uvicorn + httptools + uvloop + FastAPI routing and serialization) on this machine.
- B, `GET /b`: checks the bearer JWT with the app's own `JwtCodec` (python-jose, same
  settings), then reads a client's 20 latest completions by an indexed column
  (`ix_completion_client_id_completed_at`) with SQLAlchemy async on the same PostgreSQL
  database, and answers them through a Pydantic response model. What a minimal authenticated
  read costs.
- W, `POST /w`: the same as B plus a JSON body checked by a Pydantic model, one INSERT into
  `bench_load_write` (a table only the benchmark uses) and a COMMIT. What a minimal
  authenticated write costs.

B and W read DATABASE_URL, DB_POOL_SIZE, DB_MAX_OVERFLOW and the JWT settings from the same
environment as the app (`app.core.config.Settings`). They use a plain SQLAlchemy engine with
the app's pool size; nothing of the app's middleware, auditing or idempotency.
"""

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import DateTime, String, Uuid, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from app.core.config import Settings
from app.core.jwt import JwtCodec, TokenError

WRITE_TABLE = "bench_load_write"
WRITE_TABLE_DDL = (
    f"CREATE TABLE IF NOT EXISTS {WRITE_TABLE} ("
    "id uuid PRIMARY KEY, client_id uuid NOT NULL, note text, "
    "created_at timestamptz NOT NULL)"
)
STATIC = {"status": "ok", "service": "baseline-a", "items": [1, 2, 3], "nested": {"a": True}}


class _Base(DeclarativeBase):
    pass


class CompletionRow(_Base):
    """Part of the app's `completion` table, mapped here so that B needs none of the app's models."""

    __tablename__ = "completion"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    client_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    assignment_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    template_kind: Mapped[str] = mapped_column(String)
    occurrence_date: Mapped[date]
    occurrence_time: Mapped[str | None] = mapped_column(String)
    status: Mapped[str] = mapped_column(String)
    completed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    mood_before: Mapped[int | None]
    mood_after: Mapped[int | None]
    duration_minutes: Mapped[int | None]
    wants_to_discuss: Mapped[bool]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    version: Mapped[int]


class WriteRow(_Base):
    __tablename__ = WRITE_TABLE

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    client_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    note: Mapped[str | None]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CompletionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    assignment_id: uuid.UUID
    template_kind: str
    occurrence_date: date
    occurrence_time: str | None
    status: str
    completed_at: datetime
    mood_before: int | None
    mood_after: int | None
    duration_minutes: int | None
    wants_to_discuss: bool
    created_at: datetime
    version: int


class RecentCompletions(BaseModel):
    client_id: uuid.UUID
    items: list[CompletionOut]


class WriteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID
    note: str | None = Field(default=None, max_length=2000)


class WriteOut(RecentCompletions):
    created_id: uuid.UUID


def create_a() -> FastAPI:
    app = FastAPI(title="baseline A", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/a")
    async def static() -> dict[str, Any]:
        return STATIC

    @app.get("/readyz")
    async def ready() -> dict[str, str]:
        return {"status": "ready"}

    return app


def _db_app(title: str) -> tuple[FastAPI, Any, Any]:
    settings = Settings()
    engine = create_async_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_seconds,
    )
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
    codec = JwtCodec(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await engine.dispose()

    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)

    # Function scope, as the app's session: closed (connection back in the pool) before the
    # answer is sent, so a client's next request never waits for the previous one's cleanup.
    async def session() -> AsyncIterator[AsyncSession]:
        async with sessionmaker() as s:
            yield s

    # async, as the app's own dependencies: a plain `def` would run in the thread pool.
    async def subject(authorization: Annotated[str | None, Header()] = None) -> uuid.UUID:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise HTTPException(401, "Send a bearer token.")
        try:
            claims = codec.decode(token.strip(), typ="access")
            return uuid.UUID(claims["sub"])
        except (TokenError, KeyError, ValueError):
            raise HTTPException(401, "The access token is invalid or expired.") from None

    @app.get("/readyz")
    async def ready(
        s: Annotated[AsyncSession, Depends(session, scope="function")],
    ) -> dict[str, str]:
        await s.execute(select(1))
        return {"status": "ready"}

    return app, session, subject


async def _recent(s: AsyncSession, client_id: uuid.UUID) -> list[CompletionRow]:
    stmt = (
        select(CompletionRow)
        .where(CompletionRow.client_id == client_id)
        .order_by(CompletionRow.completed_at.desc())
        .limit(20)
    )
    return list((await s.execute(stmt)).scalars())


def create_b() -> FastAPI:
    app, session, subject = _db_app("baseline B")

    @app.get("/b", response_model=RecentCompletions)
    async def read(
        client_id: Annotated[uuid.UUID, Depends(subject)],
        s: Annotated[AsyncSession, Depends(session, scope="function")],
    ) -> Any:
        return {"client_id": client_id, "items": await _recent(s, client_id)}

    return app


def create_w() -> FastAPI:
    app, session, subject = _db_app("baseline W")

    @app.post("/w", status_code=201, response_model=WriteOut)
    async def write(
        body: WriteIn,
        client_id: Annotated[uuid.UUID, Depends(subject)],
        s: Annotated[AsyncSession, Depends(session, scope="function")],
    ) -> Any:
        items = await _recent(s, client_id)
        s.add(
            WriteRow(id=body.id, client_id=client_id, note=body.note, created_at=datetime.now(UTC))
        )
        await s.commit()
        return {"client_id": client_id, "items": items, "created_id": body.id}

    return app
