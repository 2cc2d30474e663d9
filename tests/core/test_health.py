"""Liveness and readiness."""

import httpx

from app.main import create_app
from tests.conftest import make_settings


async def test_healthz_is_ok(client):
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_is_ready_on_a_migrated_database(client):
    response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready"}


async def test_readyz_is_503_when_the_schema_is_behind(tmp_path):
    app = create_app(make_settings(f"sqlite+aiosqlite:///{tmp_path}/empty.db"))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.get("/readyz")
    await app.state.engine.dispose()
    assert response.status_code == 503
    assert response.headers["retry-after"]
    assert response.json()["detail"] == "The database schema is not at the latest migration."


async def test_readyz_is_503_when_the_database_is_unreachable():
    url = "postgresql+asyncpg://postgres@127.0.0.1:1/none"
    app = create_app(make_settings(url, db_pool_timeout_seconds=2))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.get("/readyz")
    await app.state.engine.dispose()
    assert response.status_code == 503
    assert response.json()["detail"] == "The database is not reachable."
