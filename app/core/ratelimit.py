"""Counters for rate limits and throttles (the `limits` library): Redis when configured, else memory."""

import math
import time

from fastapi import Request, Response
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from app.core.errors import problem_response, request_id_of


def per_window(amount: int, seconds: int) -> RateLimitItem:
    return RateLimitItemPerSecond(amount, seconds)


class Limiter:
    """A moving-window limiter. Shared by every process when it lives in Redis."""

    def __init__(self, redis_url: str | None, key_prefix: str = "homework") -> None:
        if redis_url:
            storage = storage_from_string(
                f"async+{redis_url}", implementation="redispy", key_prefix=key_prefix
            )
        else:
            storage = storage_from_string("async+memory://")
        self._limiter = MovingWindowRateLimiter(storage)

    async def hit(self, limit: RateLimitItem, *identifiers: str) -> bool:
        """Count one event; False when the limit was already reached."""
        return await self._limiter.hit(limit, *identifiers)

    async def allowed(self, limit: RateLimitItem, *identifiers: str) -> bool:
        return await self._limiter.test(limit, *identifiers)

    async def retry_after(self, limit: RateLimitItem, *identifiers: str) -> int:
        stats = await self._limiter.get_window_stats(limit, *identifiers)
        return max(1, math.ceil(stats.reset_time - time.time()))

    async def clear(self, limit: RateLimitItem, *identifiers: str) -> None:
        await self._limiter.clear(limit, *identifiers)


async def rate_limited(request: Request) -> bool:
    """Count this request against its caller's limit (per principal, else per IP). True when
    the limit is exhausted."""
    settings = request.app.state.settings
    if settings.rate_limit_per_minute <= 0:
        return False
    scope_of = getattr(request.app.state, "idempotency_scope", None)
    principal = scope_of(request) if scope_of else None
    if principal is not None:
        key, limit = principal, per_window(settings.rate_limit_per_minute, 60)
    else:
        host = request.client.host if request.client else "unknown"
        key, limit = f"ip:{host}", per_window(settings.rate_limit_anonymous_per_minute, 60)
    request.state.rate_limit = (limit, key)
    return not await request.app.state.limiter.hit(limit, "api", key)


async def rate_limit_response(request: Request) -> Response:
    limit, key = request.state.rate_limit
    retry = await request.app.state.limiter.retry_after(limit, "api", key)
    return problem_response(
        429,
        headers={"Retry-After": str(retry)},
        slug="rate-limited",
        detail="Too many requests; slow down and retry after the given seconds.",
        instance=request.url.path,
        request_id=request_id_of(request),
    )
