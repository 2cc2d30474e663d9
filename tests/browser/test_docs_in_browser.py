"""The interactive docs in a real browser, offline: headless Debian Chromium opens /docs and
/redoc on a live server with the demo data, and every request to any other origin is refused.

Swagger UI must render every operation of the contract, sign the demo therapist in through
"Authorize" (the OAuth2 password grant of POST /v1/auth/token) and run "Try it out" on
GET /v1/me with the token it got; ReDoc must render the same contract. Screenshots of both
land in $BROWSER_ARTIFACTS (default: a folder under pytest's temporary directory), and the
test prints where.
"""

import json
import os
import re
import subprocess
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest

from app.seed import DEFAULT_PASSWORD
from tests.live_server import Server, cli, plain_env

pytestmark = pytest.mark.browser

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
# Headless, no sandbox (root in a container), and nothing Chromium itself would fetch.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
THERAPIST = "therapist@demo.clinic"
# Collects every Content-Security-Policy violation the page reports, from before its scripts run.
RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => window.__cspViolations.push(
    {directive: e.effectiveDirective, blocked: e.blockedURI, sample: e.sample}));
"""


def _skip_loudly(reason: str) -> None:
    pytest.skip(f"BROWSER TEST NOT RUN: {reason}")


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not CHROMIUM.exists():
        _skip_loudly(
            f"{CHROMIUM} is missing; `apt-get install -y chromium` (make test does it as root)"
        )
    version = subprocess.run(
        [str(CHROMIUM), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    if version.returncode != 0:
        _skip_loudly(f"{CHROMIUM} does not run: {version.stdout}{version.stderr}")
    return CHROMIUM


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    env = plain_env(f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('browserdb')}/docs.db")
    cli(env, "migrate")
    cli(env, "seed-demo")
    running = Server(env).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def contract(server):
    return httpx.get(f"{server.url}/openapi.json", timeout=30).json()


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    folder = os.environ.get("BROWSER_ARTIFACTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("browser-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


class Browser:
    """A page in a fresh profile that can reach only `origin`; what else it tried is kept."""

    def __init__(self, context, page, origin: str) -> None:
        self.context, self.page, self.origin = context, page, origin
        self.refused: list[str] = []
        self.requests: list = []

    async def route(self, route) -> None:
        url = route.request.url
        if url == self.origin or url.startswith(self.origin + "/"):
            await route.continue_()
        else:
            self.refused.append(url)
            await route.abort("blockedbyclient")

    def record(self, request) -> None:
        self.requests.append(request)

    async def csp_violations(self) -> list[dict[str, str]]:
        return await self.page.evaluate("window.__cspViolations")


@pytest.fixture
async def browser(chromium, server, tmp_path):
    playwright_api = pytest.importorskip(
        "playwright.async_api", reason="BROWSER TEST NOT RUN: playwright is a dev dependency"
    )
    async with playwright_api.async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),  # a fresh --user-data-dir
            executable_path=str(chromium),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            page = context.pages[0] if context.pages else await context.new_page()
            driver = Browser(context, page, server.url)
            await context.route("**/*", driver.route)
            await context.add_init_script(RECORD_CSP_VIOLATIONS)
            context.on("request", driver.record)
            # Swagger UI renders a large contract; the machine may be busy with other steps.
            page.set_default_timeout(60_000)
            playwright_api.expect.set_options(timeout=60_000)
            yield driver
        finally:
            await context.close()


def _operation(contract: dict, method: str, path: str) -> dict:
    return contract["paths"][path][method]


def _operation_count(contract: dict) -> int:
    methods = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    return sum(len(methods & set(item)) for item in contract["paths"].values())


def _show(capsys, what: str, path: Path) -> None:
    with capsys.disabled():
        print(f"\n[browser] {what}: {path}")


async def test_swagger_ui_signs_in_and_tries_get_me_with_nothing_but_this_server(
    browser, server, contract, artifacts, capsys
):
    from playwright.async_api import expect

    page = browser.page
    me = _operation(contract, "get", "/v1/me")
    me_id = f"operations-{me['tags'][0]}-{me['operationId']}"
    me_scopes = me["security"][0]["OAuth2"]

    await page.goto(f"{server.url}/docs")
    # Every operation of the contract is listed.
    await expect(page.locator(f'[id="{me_id}"]')).to_be_visible()
    await expect(page.locator(".opblock")).to_have_count(_operation_count(contract))

    # Authorize: the password flow, with exactly the scopes GET /v1/me names.
    await page.locator(".auth-wrapper button.authorize").click()
    password_flow = page.locator(".auth-container").filter(
        has=page.locator("p.flow code", has_text=re.compile(r"^password$"))
    )
    await password_flow.locator("#oauth_username").fill(THERAPIST)
    await password_flow.locator("#oauth_password").fill(DEFAULT_PASSWORD)
    for scope in me_scopes:
        await password_flow.locator(f'label[for="{scope}-password-checkbox-OAuth2"]').click()
    await password_flow.locator("button.authorize").click()
    await expect(password_flow.locator("h6")).to_have_text("Authorized")
    await expect(password_flow.locator("button.authorize")).to_have_text("Logout")
    await expect(password_flow).to_contain_text(THERAPIST)
    await page.locator(".modal-ux button.btn-done").first.click()

    # Try it out -> Execute on GET /v1/me.
    operation = page.locator(f'[id="{me_id}"]')
    await operation.locator(".opblock-summary").click()
    await operation.locator("button.try-out__btn").click()
    await operation.locator("button.execute").click()
    live = operation.locator(".live-responses-table")
    await expect(live.locator("tbody .response-col_status")).to_have_text("200")
    await expect(live.locator("tbody .response-col_description")).to_contain_text(THERAPIST)
    await operation.scroll_into_view_if_needed()
    shot = artifacts / "swagger-ui-get-me.png"
    await page.screenshot(path=str(shot), full_page=False)
    _show(capsys, "Swagger UI screenshot", shot)

    # The token came from the form-encoded password grant, and GET /v1/me carried it.
    token_calls = [r for r in browser.requests if r.url == f"{server.url}/v1/auth/token"]
    assert [r.method for r in token_calls] == ["POST"]
    assert token_calls[0].headers["content-type"].startswith("application/x-www-form-urlencoded")
    form = parse_qs(token_calls[0].post_data)
    assert form["grant_type"] == ["password"] and form["username"] == [THERAPIST]
    assert form["scope"] == [" ".join(me_scopes)]
    me_calls = [r for r in browser.requests if r.url == f"{server.url}/v1/me"]
    assert len(me_calls) == 1
    assert (await me_calls[0].all_headers())["authorization"].startswith("Bearer ")

    # Nothing left for another origin, and the page's policy refused nothing it needed.
    assert browser.refused == []
    assert await browser.csp_violations() == []


async def test_redoc_renders_the_contract_offline(browser, server, contract, artifacts, capsys):
    from playwright.async_api import expect

    page = browser.page
    me = _operation(contract, "get", "/v1/me")
    await page.goto(f"{server.url}/redoc")
    await expect(page.locator("h1").first).to_contain_text(contract["info"]["title"])
    # Every tag is in the menu, and GET /v1/me has its section with its summary.
    for tag in {op["tags"][0] for item in contract["paths"].values() for op in item.values()}:
        await expect(page.locator(".menu-content").get_by_text(tag, exact=True)).to_have_count(1)
    section = page.locator(f'[id="tag/{me["tags"][0]}/operation/{me["operationId"]}"]')
    await expect(section).to_contain_text(me["summary"])
    # Search runs in ReDoc's worker (the one thing it may start from a `blob:` URL).
    await page.locator("input.search-input").fill(me["summary"])
    results = page.locator('[data-role="search:results"]')
    await expect(results).to_contain_text(me["summary"])
    await page.locator("input.search-input").fill("")
    await section.scroll_into_view_if_needed()
    shot = artifacts / "redoc-get-me.png"
    await page.screenshot(path=str(shot))
    _show(capsys, "ReDoc screenshot", shot)

    assert browser.refused == []
    # ReDoc 2 always shows Redocly's logo from its CDN in the menu's footer: the page's policy
    # refuses it (the browser never asks for it), and nothing else is refused.
    refused = await browser.csp_violations()
    assert all(
        v["directive"] == "img-src" and not v["blocked"].startswith(server.url) for v in refused
    ), json.dumps(refused)
