"""Webhook requests sent to the address the URL check approved, never to a fresh DNS answer.

Handing httpx the URL with the host name would make it resolve the name again, and a name can
answer a public address to the check and 127.0.0.1 to the connection (DNS rebinding). So the
request goes to `https://<checked address>/path`, and the name travels where TLS and HTTP need
it: in the `sni_hostname` request extension, which httpcore uses for SNI and for verifying the
certificate, and in the `Host` header.
"""

from typing import Any
from urllib.parse import urlsplit

import httpx

from app.sync.urls import WebhookTarget


def address_url(url: str, address: str) -> str:
    """`url` with its host replaced by the IP `address` (bracketed when IPv6), port kept."""
    parts = urlsplit(url)
    host = f"[{address}]" if ":" in address else address
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return parts._replace(netloc=netloc).geturl()


def _name_headers(target: WebhookTarget) -> dict[str, str]:
    return {
        "Host": urlsplit(target.url).netloc,
        # The client pools connections by address, not by name: a connection whose certificate
        # was verified for one name must not carry a request for another name on that address.
        "Connection": "close",
    }


def _name_extensions(target: WebhookTarget) -> dict[str, Any]:
    if urlsplit(target.url).scheme != "https":
        return {}
    return {"sni_hostname": target.host}


async def post_pinned(
    client: httpx.AsyncClient,
    target: WebhookTarget,
    *,
    content: bytes,
    headers: dict[str, str],
    request_timeout: float,
) -> httpx.Response:
    """POST `content` to `target` through its checked addresses, in the resolver's order.

    The next address is tried only when connecting to one failed (refused, unreachable, TLS
    handshake), so nothing was sent; any later error, or a timeout, ends the attempt.
    """
    if not target.host:  # the URL names its address: nothing to look up, nothing to pin
        return await client.post(
            target.url, content=content, headers=headers, timeout=request_timeout
        )
    failure: httpx.ConnectError | None = None
    for address in target.addresses:
        try:
            return await client.post(
                address_url(target.url, address),
                content=content,
                headers={**headers, **_name_headers(target)},
                extensions=_name_extensions(target),
                timeout=request_timeout,
            )
        except httpx.ConnectError as exc:
            failure = exc
    assert failure is not None, "a checked host name has at least one address"
    raise failure
