"""The interactive docs are served whole by the app: /docs (Swagger UI) and /redoc (ReDoc)
name only same-origin URLs, their scripts and styles come from the app itself, and each page's
Content-Security-Policy allows nothing but this origin and the page's own inline blocks.
(tests/browser drives both pages in Chromium with every other origin cut off.)"""

import base64
import hashlib
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from app.auth.principal import Scope
from app.main import create_app
from tests.conftest import make_settings

PAGES = ["/docs", "/redoc", "/docs/oauth2-redirect"]
_URL_ATTRIBUTE = re.compile(r"""(?:src|href|spec-url)\s*=\s*["']([^"']*)["']""")
_SCRIPT_URL = re.compile(r"""\burl:\s*["']([^"']*)["']""")


@pytest.fixture(scope="module")
async def docs() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_settings("sqlite+aiosqlite:///:memory:"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
    await app.state.engine.dispose()


def _policy(response: httpx.Response) -> dict[str, list[str]]:
    directives = response.headers["content-security-policy"].split(";")
    return {name: sources for name, *sources in (d.split() for d in directives if d.strip())}


def _sha256(text: str) -> str:
    return f"'sha256-{base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()}'"


def _inline(tag: str, html: str) -> list[str]:
    return re.findall(rf"<{tag}>(.*?)</{tag}>", html, re.DOTALL)


def _referenced_urls(html: str) -> list[str]:
    return _URL_ATTRIBUTE.findall(html) + _SCRIPT_URL.findall(html)


@pytest.mark.parametrize("path", PAGES)
async def test_docs_pages_name_only_same_origin_urls(docs, path):
    page = await docs.get(path)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "://" not in page.text, "an absolute URL would leave the server"
    for url in _referenced_urls(page.text):
        assert url.startswith("/") and not url.startswith("//"), url


@pytest.mark.parametrize("path", PAGES)
async def test_docs_pages_allow_only_this_origin_and_their_own_inline_blocks(docs, path):
    page = await docs.get(path)
    policy = _policy(page)
    assert policy["default-src"] == ["'none'"]
    assert policy["connect-src"] == ["'self'"]
    assert policy["img-src"] == ["'self'", "data:"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    # Scripts: this origin and, by hash, exactly the page's inline <script> blocks.
    assert policy["script-src"] == ["'self'", *map(_sha256, _inline("script", page.text))]
    # Styles: this origin, the page's inline <style> blocks, and on /redoc the hashes of the
    # <style> elements ReDoc adds itself (tests/browser proves the page needs no more).
    assert policy["style-src"][0] == "'self'"
    assert set(map(_sha256, _inline("style", page.text))) <= set(policy["style-src"])
    everything = " ".join(source for sources in policy.values() for source in sources)
    for loosening in ("'unsafe-inline'", "'unsafe-eval'", "*", "http:", "https:"):
        assert loosening not in everything.split(), loosening


async def test_only_redoc_may_start_a_worker_from_its_own_code(docs):
    assert _policy(await docs.get("/redoc"))["worker-src"] == ["blob:"]
    assert "worker-src" not in _policy(await docs.get("/docs"))


_KINDS = {
    ".js": {"text/javascript", "application/javascript"},
    ".css": {"text/css"},
    ".png": {"image/png"},
}


@pytest.mark.parametrize(
    ("page", "suffix"), [("/docs", ".js"), ("/docs", ".css"), ("/docs", ".png"), ("/redoc", ".js")]
)
async def test_the_assets_the_pages_name_are_served_by_the_app(docs, page, suffix):
    html = (await docs.get(page)).text
    assets = [u for u in _referenced_urls(html) if u.endswith(suffix)]
    assert assets and all(url.startswith("/docs/assets/") for url in assets), assets
    for url in assets:
        asset = await docs.get(url)
        assert asset.status_code == 200, url
        assert asset.headers["content-type"].split(";")[0] in _KINDS[suffix], url
        assert len(asset.content) > 1000 and asset.headers["etag"], url


async def test_an_unknown_asset_is_a_problem_404(docs):
    missing = await docs.get("/docs/assets/nothing-here.js")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


async def test_the_contract_offers_the_password_flow_with_every_scope_explained(docs):
    scheme = (await docs.get("/openapi.json")).json()["components"]["securitySchemes"]["OAuth2"]
    password = scheme["flows"]["password"]
    assert password["tokenUrl"] == "/v1/auth/token"
    assert set(password["scopes"]) == {scope.value for scope in Scope}
    assert all(len(meaning) > 20 for meaning in password["scopes"].values())
