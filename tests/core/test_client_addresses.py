"""Anonymous rate limits key on the caller's address: X-Forwarded-For counts only from a trusted
proxy (FORWARDED_ALLOW_IPS), and health probes are never limited."""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx

from app.cli import main
from app.core.config import get_settings
from app.main import create_app
from tests.conftest import empty_all_tables, make_settings

PROXY = "10.0.0.5"
LIMIT = 3


@asynccontextmanager
async def limited_app(
    database_url: str, peer: str, **overrides: object
) -> AsyncIterator[Callable[..., object]]:
    """An app allowing LIMIT anonymous requests a minute, reached from `peer`; yields a function
    that makes one anonymous token request with the given X-Forwarded-For (or none)."""
    app = create_app(
        make_settings(database_url, rate_limit_anonymous_per_minute=LIMIT, **overrides)
    )
    transport = httpx.ASGITransport(app=app, client=(peer, 40000), raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:

            async def anonymous(forwarded_for: str | None = None, path: str = "/v1/auth/token"):
                headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
                if path != "/v1/auth/token":
                    return (await http.get(path, headers=headers)).status_code
                response = await http.post(path, data={"grant_type": "nope"}, headers=headers)
                return response.status_code

            yield anonymous
    finally:
        await empty_all_tables(app)  # the token requests left audit rows
        await app.state.engine.dispose()


async def test_without_a_trusted_proxy_x_forwarded_for_is_ignored(database_url):
    async with limited_app(database_url, peer="203.0.113.7") as anonymous:
        spent = [await anonymous(f"198.51.100.{n}") for n in range(LIMIT)]
        assert spent == [400] * LIMIT
        assert await anonymous("192.0.2.99") == 429  # a made-up address is no fresh bucket


async def test_callers_behind_a_trusted_proxy_have_their_own_buckets(database_url):
    async with limited_app(database_url, peer=PROXY, forwarded_allow_ips="10.0.0.0/8") as anonymous:
        assert [await anonymous("203.0.113.7") for _ in range(LIMIT + 1)] == [400] * LIMIT + [429]
        assert await anonymous("198.51.100.9") == 400
        # The proxy appends the address it saw; what the caller wrote to the left is not trusted.
        assert await anonymous("198.51.100.9, 203.0.113.7") == 429
        # Hops through more trusted proxies still lead to the caller.
        assert await anonymous("203.0.113.7, 10.1.2.3") == 429
        assert await anonymous("198.51.100.9, 10.1.2.3") == 400


async def test_a_trusted_proxy_without_x_forwarded_for_is_the_caller(database_url):
    async with limited_app(database_url, peer=PROXY, forwarded_allow_ips=PROXY) as anonymous:
        assert [await anonymous() for _ in range(LIMIT + 1)] == [400] * LIMIT + [429]


async def test_health_and_readiness_are_never_rate_limited(database_url):
    async with limited_app(database_url, peer=PROXY) as anonymous:
        assert [await anonymous() for _ in range(LIMIT + 1)][-1] == 429
        probes = [await anonymous(path=path) for path in ("/healthz", "/readyz") * 5]
        assert probes == [200] * 10


def test_serve_hands_the_trusted_proxies_to_uvicorn(tmp_path, monkeypatch):
    import uvicorn

    calls: list[dict] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: calls.append(kwargs))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:1/unused")
    monkeypatch.setenv("APP_ENV", "development")
    for trusted, expected in (
        ("", (False, [])),
        ("10.0.0.0/8,::1", (True, ["10.0.0.0/8", "::1/128"])),
    ):
        monkeypatch.setenv("FORWARDED_ALLOW_IPS", trusted)
        get_settings.cache_clear()
        main(["serve"])
        assert (calls[-1]["proxy_headers"], calls[-1]["forwarded_allow_ips"]) == expected
    get_settings.cache_clear()
