"""Counters for rate limits and throttles (the `limits` library): Redis when configured, else memory."""

import ipaddress
import math
import time
from collections.abc import Iterable

from fastapi import Request, Response
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from app.core.config import IPNetwork
from app.core.errors import TooManyRequests, problem_response, request_id_of


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

    async def retry_after(self, limit: RateLimitItem, *identifiers: str) -> int:
        stats = await self._limiter.get_window_stats(limit, *identifiers)
        return max(1, math.ceil(stats.reset_time - time.time()))

    async def clear(self, limit: RateLimitItem, *identifiers: str) -> None:
        await self._limiter.clear(limit, *identifiers)


class Throttle:
    """A budget of attempts per key in a moving window, for a costly check an attacker would
    repeat (a password guess). Each attempt is counted before the check runs, by one atomic hit
    (in memory and in Redis alike), so a burst of concurrent attempts cannot all slip through
    between a test and a count: at most `amount` checks run per window. A success clears the key.
    """

    def __init__(
        self, limiter: Limiter, name: str, amount: int, seconds: int, *, detail: str
    ) -> None:
        self._limiter = limiter
        self._name = name
        self._limit = per_window(amount, seconds)
        self._detail = detail

    async def reserve(self, key: str) -> None:
        """Count one attempt, or raise 429 (with Retry-After) when the budget is spent."""
        if not await self._limiter.hit(self._limit, self._name, key):
            retry_after = await self._limiter.retry_after(self._limit, self._name, key)
            raise TooManyRequests(self._detail, retry_after=retry_after)

    async def clear(self, key: str) -> None:
        await self._limiter.clear(self._limit, self._name, key)


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Unlimited:
    """Mixed into a route class whose operations are never rate limited (health probes)."""


def _ip(text: str) -> IPAddress | None:
    """An address as a proxy writes it: bare, `v4:port` or `[v6]:port`."""
    text = text.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")]
    elif text.count(":") == 1:
        text = text.split(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _trusted(address: IPAddress | None, proxies: Iterable[IPNetwork]) -> bool:
    return address is not None and any(address in network for network in proxies)


def client_address(request: Request) -> str:
    """The caller's address. Only a trusted proxy (FORWARDED_ALLOW_IPS) speaks for another: then
    X-Forwarded-For is read from the right (each proxy appends the peer it saw) and the first
    address no trusted proxy holds is the caller's; any other caller could write the header
    itself to get a fresh bucket. uvicorn applies the same rule to `request.client` when
    `serve` passes it the setting, so logs and audit rows see this address too."""
    peer = request.client.host if request.client else "unknown"
    proxies = request.app.state.settings.forwarded_allow_ips
    if not _trusted(_ip(peer), proxies):
        return peer
    forwarded = ",".join(request.headers.getlist("x-forwarded-for"))
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _ip(hop)
        if not _trusted(address, proxies):
            return str(address) if address is not None else hop[:64]
    return str(_ip(hops[0])) if hops else peer  # all trusted: the first hop is the caller


async def rate_limited(request: Request) -> bool:
    """Count this request against its caller's limit (per principal, else per IP). True when
    the limit is exhausted."""
    settings = request.app.state.settings
    if settings.rate_limit_per_minute <= 0 or isinstance(request.scope.get("route"), Unlimited):
        return False
    scope_of = getattr(request.app.state, "idempotency_scope", None)
    scope = scope_of(request) if scope_of else None
    if scope is not None:
        key, limit = scope.principal, per_window(settings.rate_limit_per_minute, 60)
    else:
        key = f"ip:{client_address(request)}"
        limit = per_window(settings.rate_limit_anonymous_per_minute, 60)
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
