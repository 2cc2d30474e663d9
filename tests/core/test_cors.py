"""A browser app on an allowed origin (CORS_ORIGINS) may read the headers the API documents:
versions, retries, replays and, on a 415, the media type to send."""

import httpx

from app.main import create_app
from tests.conftest import make_settings


async def test_an_allowed_origin_can_read_the_documented_headers(database_url):
    app = create_app(
        make_settings(database_url).model_copy(update={"cors_origins": ["https://app.example"]})
    )
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.post(
                "/v1/assignments",
                headers={"Origin": "https://app.example", "Content-Type": "text/plain"},
                content="not json",
            )
    finally:
        await app.state.engine.dispose()
    assert response.headers["access-control-allow-origin"] == "https://app.example"
    exposed = {
        h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")
    }
    assert {"etag", "retry-after", "idempotent-replayed", "accept-post", "accept-patch"} <= exposed
