"""create_app(): settings, database, middleware, error handlers, routers and the OpenAPI document."""

import asyncio
import ctypes
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from app import __version__
from app.api import include_api, root_router
from app.auth.models import ApiClient, User
from app.auth.policy import replay_guard
from app.auth.principal import idempotency_scope
from app.auth.principal_cache import PrincipalCache, install_principal_cache_hooks
from app.core.audit import GroupCommit
from app.core.config import Settings, get_settings
from app.core.db import create_engine, create_read_sessionmaker, create_sessionmaker
from app.core.docs import install_docs
from app.core.errors import install_error_handlers
from app.core.health import router as health_router
from app.core.jwt import JwtCodec
from app.core.logging import configure_logging
from app.core.middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from app.core.passwords import size_hashing_pool
from app.core.ratelimit import Limiter
from app.core.routing import install_openapi

DESCRIPTION = """\
A headless REST API for therapy homework: the exercises a therapist gives a client between
sessions, the client's completions of them, the goals they serve and the progress metrics that
show adherence and change.

Every error is an RFC 9457 problem (`application/problem+json`). Lists are cursor-paginated.
Timestamps are RFC 3339 with an offset; calendar dates are in the client's own time zone.
Text cannot contain the NUL character (U+0000); a request with one is answered 422. Calendar
dates lie between 0002-01-01 and 9998-12-31, and instants within years 1 to 9999 in UTC.
"""


def tune_garbage_collector() -> None:
    """Called once the app is built, before it serves.

    Routes, schemas and mappers are ~190k objects that live as long as the process; a full
    collection walked them all (100+ ms) every few heavy requests. Frozen, the collector leaves
    them alone and looks only at what requests allocate. A request leaves some cyclic garbage
    (statements holding their parameter lists); with the default first threshold (700),
    collections, full ones included, land inside heavy requests every few calls. 10,000
    allocations between young collections keeps them rare, and the older generations are
    collected half as often as by default (20, 10).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)


def tune_malloc() -> None:
    """On glibc, called once the app is built, before it serves.

    A change-feed page is ~1.4 MB of bytes, and 32 readers keep several in flight. glibc serves
    such blocks by mmap and returns them on free, but after the first free it raises its mmap
    threshold to the freed size (up to 32 MB): later pages then come from the heap, whose
    fragments stay resident after the burst (~25 MB per worker, measured). A fixed threshold
    (128 KiB, glibc's own default) keeps large transient buffers out of the heap.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: nothing to tune
        return
    m_mmap_threshold = -3
    libc.mallopt(m_mmap_threshold, 128 * 1024)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    engine = create_engine(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tune_garbage_collector()
        tune_malloc()
        stop = asyncio.Event()
        task = None
        in_process = settings.worker_in_process
        if in_process is None:
            in_process = settings.is_sqlite and settings.app_env != "test"
        if in_process:
            from app.sync.worker import Worker  # here: a server without it never loads httpx

            worker = Worker(
                app.state.sessionmaker, allow_http_loopback=settings.webhook_allow_http_loopback
            )
            task = asyncio.create_task(worker.run_forever(settings.worker_interval_seconds, stop))
        yield
        stop.set()
        if task is not None:
            await task
        await engine.dispose()

    app = FastAPI(
        title="Therapy Homework API",
        version=__version__,
        lifespan=lifespan,
        # Served by install_docs from assets shipped with the package (no CDN).
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = create_sessionmaker(engine)
    app.state.read_sessionmaker = create_read_sessionmaker(engine)
    app.state.audit_writer = GroupCommit(engine)
    app.state.jwt = JwtCodec(settings)
    app.state.principal_cache = PrincipalCache(settings.principal_cache_seconds)
    install_principal_cache_hooks({User: "user", ApiClient: "api_client"})
    app.state.limiter = Limiter(settings.redis_url, settings.redis_key_prefix)
    size_hashing_pool(settings.password_hash_threads)
    app.state.idempotency_scope = idempotency_scope
    app.state.replay_guard = replay_guard

    install_error_handlers(app)
    app.include_router(health_router)
    app.include_router(root_router)
    include_api(app)
    install_docs(app)
    install_openapi(
        app,
        title=app.title,
        version=app.version,
        description=DESCRIPTION,
        servers=[{"url": "/"}],
    )

    # Added inner-first: the request context wraps everything, so even a 413 has a request id.
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "Idempotency-Key",
                "If-Match",
                "X-Request-ID",
            ],
            expose_headers=[
                "ETag",
                "Location",
                "X-Request-ID",
                "Retry-After",
                "Idempotent-Replayed",
                "Accept-Post",
                "Accept-Patch",
            ],
        )
    app.add_middleware(RequestContextMiddleware)
    return app
