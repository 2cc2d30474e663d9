"""Webhook target URLs: refuse anything that would make the server call into a private network.

A webhook URL is chosen by a tenant and fetched by our worker, so without these checks it is a
server-side request forgery (SSRF) primitive: `https://169.254.169.254/` would hand out cloud
credentials, `https://10.0.0.5/admin` would reach internal services. Every address a host
resolves to must be public; one private answer among public ones is enough to refuse, because
the connecting client may pick any of them.

DNS rebinding: a name can resolve to a public address now and a private one a second later, so
a check followed by a connection that looks the name up again protects nothing. The check
therefore returns the addresses it approved (`WebhookTarget`), and the delivery connects to one
of those, never to a fresh answer (app/sync/pinned.py). Registration only resolves and checks,
for early, clear feedback to the integrator; the worker checks again before every delivery.
"""

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2000
RESOLVE_TIMEOUT_SECONDS = 5.0

Resolver = Callable[[str, int], Awaitable[list[str]]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Named explicitly rather than trusting `is_private`/`is_global` alone: their coverage has
# changed between Python releases (100.64/10 is neither private nor global, for instance), and
# the refusal message names the class.
_METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
    )
)
_CARRIER_GRADE_NAT = ipaddress.ip_network("100.64.0.0/10")
_PRIVATE = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)
# NAT64 (RFC 6052): on an IPv6-only network with DNS64, an IPv4-only host resolves to this
# prefix with its IPv4 address in the low 32 bits, and the translator connects to that.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

# Host name labels we accept (underscores included: some real DNS names use them). Anything
# else, such as `%31` escapes, is a place where our parser and the HTTP client's might disagree
# about which host is meant.
_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
# WHATWG URL parsing treats a host whose last label is a number (decimal, 0x-hex or octal) as
# IPv4, and the C resolver's inet_aton accepts `127.1`, `0x7f.1`, `2130706433`, `017700000001`.
_NUMERIC_LABEL = re.compile(r"(0x[0-9a-f]*|[0-9]+)")


class UnsafeWebhookUrl(ValueError):
    """The URL may not be used as a webhook target; the message says why (safe to show)."""


@dataclass(frozen=True)
class WebhookTarget:
    """A webhook URL that passed the checks, and the addresses it passed them with."""

    url: str  # normalized: what is stored and shown
    host: str  # the name the URL gives; "" when the URL names an IP address itself
    addresses: tuple[str, ...]  # every address checked, in the resolver's order of preference


def _translated_ipv4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a connection to `addr` really reaches (IPv4-mapped or NAT64), if any."""
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    if addr in _NAT64:
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return None


def _tunnelled_ipv4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 endpoint of a 6to4 or Teredo address, which a relay may forward to."""
    if addr.sixtofour is not None:
        return addr.sixtofour
    if addr.teredo is not None:
        return addr.teredo[1]
    return None


def _refusal(addr: IPAddress) -> str | None:
    """The class of address that makes `addr` unsafe, or None when it is public."""
    if isinstance(addr, ipaddress.IPv6Address):
        # `::ffff:10.0.0.1` is 10.0.0.1 to a dual-stack socket: judge the IPv4 address alone.
        translated = _translated_ipv4(addr)
        if translated is not None:
            return _refusal(translated)
        tunnelled = _tunnelled_ipv4(addr)
        if tunnelled is not None and _refusal(tunnelled) is not None:
            return _refusal(tunnelled)
    if addr in _METADATA:
        return "cloud metadata"
    if addr.is_unspecified:
        return "unspecified"
    if addr.is_loopback:
        return "loopback"
    if addr.is_link_local:
        return "link-local"
    if addr.is_multicast:
        return "multicast"
    if addr in _CARRIER_GRADE_NAT:
        return "carrier-grade NAT"
    if any(addr in net for net in _PRIVATE if net.version == addr.version):
        return "private"
    if isinstance(addr, ipaddress.IPv6Address) and addr.is_site_local:
        return "private"
    if addr.is_reserved:
        return "reserved"
    if addr.is_private or not addr.is_global:
        # Documentation ranges, benchmarking, 192.0.0.0/24 and the like.
        return "non-public"
    return None


def _parse_ip(text: str) -> IPAddress | None:
    # getaddrinfo may report a link-local IPv6 address with its zone (`fe80::1%eth0`).
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None


def is_public_address(ip: str) -> bool:
    """True when `ip` is a globally routable unicast address a webhook may be delivered to."""
    addr = _parse_ip(ip) if isinstance(ip, str) else None
    return addr is not None and _refusal(addr) is None


async def _default_resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _normalize_host(raw: str) -> tuple[str, IPAddress | None]:
    """The host in canonical ASCII form, and its address when the URL names an IP literal."""
    if raw.startswith("["):
        inner = raw[1:-1] if raw.endswith("]") else ""
        if "%" in inner:
            raise UnsafeWebhookUrl("IPv6 zone identifiers are not allowed in a webhook URL")
        try:
            return "", ipaddress.IPv6Address(inner)
        except ValueError:
            raise UnsafeWebhookUrl("the URL's IPv6 address is not valid") from None
    try:
        host = raw.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise UnsafeWebhookUrl("the URL's host name is not a valid domain name") from None
    if not host or len(host) > 253:
        raise UnsafeWebhookUrl("the URL's host name is not a valid domain name")
    labels = host[:-1].split(".") if host.endswith(".") else host.split(".")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        try:
            return "", ipaddress.IPv4Address(host)
        except ValueError:
            raise UnsafeWebhookUrl(
                "the URL's host is a numeric address in a non-standard form; "
                "write an IPv4 address as four decimal parts (or use a host name)"
            ) from None
    if not all(_LABEL.fullmatch(label) for label in labels):
        raise UnsafeWebhookUrl("the URL's host name is not a valid domain name")
    return host, None


def _refuse_address(host: str, shown: str, reason: str) -> UnsafeWebhookUrl:
    if not host:
        return UnsafeWebhookUrl(f"{shown} is a {reason} address; webhooks need a public address")
    # The resolved address itself is left out: echoing it would let a caller map internal DNS.
    return UnsafeWebhookUrl(
        f"host {host!r} resolves to a {reason} address; webhooks need a public address"
    )


async def check_webhook_url(
    url: str, *, allow_http_loopback: bool = False, resolve: Resolver | None = None
) -> WebhookTarget:
    """The normalized `url` and its checked addresses; raises UnsafeWebhookUrl if it is unsafe.

    The host is resolved once. A caller that connects must connect to one of the returned
    addresses: looking the name up again could answer something never checked.

    `allow_http_loopback` is a development setting: it lets a URL whose host resolves only to
    loopback addresses use http (and lets https reach loopback). `resolve(host, port)` returns
    the host's IP addresses as strings; tests inject one, production uses the system resolver.
    """
    if not isinstance(url, str) or not url:
        raise UnsafeWebhookUrl("a webhook URL is required")
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeWebhookUrl(f"the URL is longer than {MAX_URL_LENGTH} characters")
    # Whitespace, control characters and backslashes are read differently by different URL
    # parsers (`https://a.com\@10.0.0.1/`); refusing them keeps our view of the host the same as
    # the HTTP client's.
    if any(ch <= " " or ch == "\x7f" or ch == "\\" for ch in url):
        raise UnsafeWebhookUrl("the URL contains whitespace, control characters or a backslash")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeWebhookUrl("the URL is malformed or its port is invalid") from None

    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise UnsafeWebhookUrl("the URL must use https")
    if scheme == "http" and not allow_http_loopback:
        raise UnsafeWebhookUrl("the URL must use https")
    if "@" in parts.netloc:
        raise UnsafeWebhookUrl("credentials (user:password@) are not allowed in a webhook URL")
    raw_host = parts.netloc.rsplit(":", 1)[0] if port is not None else parts.netloc
    if raw_host.endswith(":"):  # `https://host:/` — an empty port
        raw_host = raw_host[:-1]
    if not raw_host:
        raise UnsafeWebhookUrl("the URL has no host")
    if port == 0:
        raise UnsafeWebhookUrl("the URL's port is invalid")

    host, literal = _normalize_host(raw_host)
    default_port = 443 if scheme == "https" else 80
    effective_port = port if port is not None else default_port

    if literal is not None:
        addresses = [literal]
    else:
        resolver = resolve or _default_resolve
        try:
            async with asyncio.timeout(RESOLVE_TIMEOUT_SECONDS):
                answers = await resolver(host, effective_port)
        except (OSError, UnicodeError, TimeoutError):
            raise UnsafeWebhookUrl("cannot resolve host") from None
        if not answers:
            raise UnsafeWebhookUrl("cannot resolve host")
        addresses = []
        for answer in answers:
            addr = _parse_ip(answer)
            if addr is None:
                raise UnsafeWebhookUrl("cannot resolve host")
            addresses.append(addr)

    for addr in addresses:
        reason = _refusal(addr)
        if reason == "loopback" and allow_http_loopback:
            continue
        if reason is not None:
            raise _refuse_address(host, raw_host.strip("[]"), reason)
    if scheme == "http" and not all(_refusal(a) == "loopback" for a in addresses):
        raise UnsafeWebhookUrl(
            "the URL must use https; http is only allowed for loopback targets in development"
        )

    if literal is None:
        netloc = host
    elif literal.version == 6:
        netloc = f"[{literal.compressed}]"
    else:
        netloc = literal.compressed
    if port is not None and port != default_port:
        netloc += f":{port}"
    path = parts.path or "/"
    query = f"?{parts.query}" if parts.query else ""
    # The fragment is dropped: it is never sent over HTTP and only invites confusion.
    return WebhookTarget(
        url=f"{scheme}://{netloc}{path}{query}", host=host, addresses=_connectable(addresses)
    )


def _connectable(addresses: list[IPAddress]) -> tuple[str, ...]:
    """The addresses as a client should dial them: once each, IPv4-mapped ones as IPv4."""
    dialled = (
        a.ipv4_mapped if isinstance(a, ipaddress.IPv6Address) and a.ipv4_mapped else a
        for a in addresses
    )
    return tuple(dict.fromkeys(a.compressed for a in dialled))
