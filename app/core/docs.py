"""The interactive docs (Swagger UI at /docs, ReDoc at /redoc), served entirely by this server.

FastAPI's default pages load Swagger UI from a CDN and a favicon from FastAPI's site, so they
are blank on a machine without internet and tell third parties who reads the docs. Here the
scripts, styles and favicon come from the pinned `fastapi-offline` package (which vendors
swagger-ui-dist and redoc) and are served under /docs/assets. Each page carries a
Content-Security-Policy that allows only this origin, plus the hash of each inline script or
style the page itself holds: a page that tried to load anything from elsewhere would be
refused by the browser.
"""

import base64
import hashlib
import re
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
    swagger_ui_default_parameters,
)
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

ASSETS_DIR = Path(str(files("fastapi_offline") / "static"))
SWAGGER_JS, SWAGGER_CSS = "swagger-ui-bundle.js", "swagger-ui.css"
REDOC_JS, FAVICON = "redoc.standalone.js", "favicon.png"

_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)
_INLINE_STYLE = re.compile(r"<style>(.*?)</style>", re.DOTALL)


def csp_hash(text: str) -> str:
    return f"'sha256-{base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()}'"


# What ReDoc (2.5.3, as fastapi-offline 1.7.7 ships it) needs beyond its page: the <style>
# elements its script adds (empty ones that styled-components fills through the CSSOM, which
# CSP does not govern, and the perfect-scrollbar rules; blocked, ReDoc fails with
# styled-components error 17), and its search index runs in a Web Worker made from a `blob:`
# URL of its own code. A newer ReDoc may need others: tests/browser fails on any violation.
REDOC_RUNTIME_STYLES = (csp_hash(""), "'sha256-QMIg+bpjm3JdElJ388KYke01izlUW0UoNOeKjpMxdgc='")


def content_security_policy(
    html: str, *, runtime_styles: tuple[str, ...] = (), blob_workers: bool = False
) -> str:
    """Only this origin, plus the page's own inline script and style blocks by hash."""
    scripts = "".join(f" {csp_hash(text)}" for text in _INLINE_SCRIPT.findall(html))
    styles = "".join(
        f" {h}" for h in (*map(csp_hash, _INLINE_STYLE.findall(html)), *runtime_styles)
    )
    directives = [
        "default-src 'none'",
        f"script-src 'self'{scripts}",
        f"style-src 'self'{styles}",
        "img-src 'self' data:",
        "connect-src 'self'",
        *(["worker-src blob:"] if blob_workers else []),
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
    return "; ".join(directives)


def _with_csp(
    page: HTMLResponse, *, runtime_styles: tuple[str, ...] = (), blob_workers: bool = False
) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = content_security_policy(
        bytes(page.body).decode(), runtime_styles=runtime_styles, blob_workers=blob_workers
    )
    page.headers["Cache-Control"] = "no-cache"
    return page


def install_docs(
    app: FastAPI,
    *,
    docs_url: str = "/docs",
    redoc_url: str = "/redoc",
    assets_url: str = "/docs/assets",
) -> None:
    """Adds the docs pages and their assets to an app built with docs_url=redoc_url=None."""
    openapi_url = app.openapi_url or "/openapi.json"
    oauth2_redirect_url = f"{docs_url}/oauth2-redirect"
    parameters = {
        **swagger_ui_default_parameters,
        # The default validator badge is an image from validator.swagger.io.
        "validatorUrl": None,
        **(app.swagger_ui_parameters or {}),
    }

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{assets_url}/{SWAGGER_JS}",
            swagger_css_url=f"{root}{assets_url}/{SWAGGER_CSS}",
            swagger_favicon_url=f"{root}{assets_url}/{FAVICON}",
            oauth2_redirect_url=root + oauth2_redirect_url,
            swagger_ui_parameters=parameters,
        )
        return _with_csp(page)

    async def swagger_ui_redirect(request: Request) -> HTMLResponse:
        return _with_csp(get_swagger_ui_oauth2_redirect_html())

    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{assets_url}/{REDOC_JS}",
            redoc_favicon_url=f"{root}{assets_url}/{FAVICON}",
            with_google_fonts=False,
        )
        return _with_csp(page, runtime_styles=REDOC_RUNTIME_STYLES, blob_workers=True)

    app.mount(assets_url, StaticFiles(directory=ASSETS_DIR), name="docs-assets")
    app.add_route(docs_url, swagger_ui, include_in_schema=False)
    app.add_route(oauth2_redirect_url, swagger_ui_redirect, include_in_schema=False)
    app.add_route(redoc_url, redoc, include_in_schema=False)
