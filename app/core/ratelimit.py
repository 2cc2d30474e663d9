"""Counters for rate limits and throttles (the `limits` library): Redis when configured, else memory."""

import math
import time

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string


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
