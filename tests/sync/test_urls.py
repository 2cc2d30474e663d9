"""Webhook target URLs: every class of private address is refused, public targets pass."""

import socket

import pytest

from app.sync.urls import UnsafeWebhookUrl, check_webhook_url, is_public_address

PUBLIC_V4 = "93.184.216.34"
PUBLIC_V6 = "2606:4700:4700::1111"


def resolves_to(*ips: str):
    """A resolver answering `ips` for any host, remembering what it was asked."""
    calls: list[tuple[str, int]] = []

    async def resolve(host: str, port: int) -> list[str]:
        calls.append((host, port))
        return list(ips)

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


async def never_called(host: str, port: int) -> list[str]:
    raise AssertionError(f"resolver must not be called for {host!r}")


REFUSED = {
    "private 10/8": ("10.0.0.1", "private"),
    "private 172.16/12": ("172.16.5.4", "private"),
    "private 172.31 (top of 172.16/12)": ("172.31.255.255", "private"),
    "private 192.168/16": ("192.168.1.1", "private"),
    "private fc00::/7 (fd)": ("fd12:3456:789a::1", "private"),
    "private fc00::/7 (fc)": ("fc00::1", "private"),
    "loopback v4": ("127.0.0.1", "loopback"),
    "loopback v4 elsewhere in 127/8": ("127.8.9.10", "loopback"),
    "loopback v6": ("::1", "loopback"),
    "link-local v4": ("169.254.10.20", "link-local"),
    "link-local v6": ("fe80::1", "link-local"),
    "link-local v6 with zone": ("fe80::1%eth0", "link-local"),
    "metadata AWS/GCP/Azure": ("169.254.169.254", "cloud metadata"),
    "metadata AWS IPv6": ("fd00:ec2::254", "cloud metadata"),
    "metadata Alibaba": ("100.100.100.200", "cloud metadata"),
    "carrier-grade NAT": ("100.64.0.1", "carrier-grade NAT"),
    "carrier-grade NAT top": ("100.127.255.254", "carrier-grade NAT"),
    "multicast v4": ("224.0.0.251", "multicast"),
    "multicast v6": ("ff02::1", "multicast"),
    "reserved 240/4": ("240.0.0.1", "reserved"),
    "broadcast": ("255.255.255.255", "reserved"),
    "unspecified v4": ("0.0.0.0", "unspecified"),  # noqa: S104 - an address under test, not a bind
    "unspecified v6": ("::", "unspecified"),
    "this network 0/8": ("0.1.2.3", "non-public"),
    "documentation TEST-NET-1": ("192.0.2.10", "non-public"),
    "IPv4-mapped private": ("::ffff:10.0.0.1", "private"),
    "IPv4-mapped loopback": ("::ffff:127.0.0.1", "loopback"),
    "IPv4-mapped metadata": ("::ffff:169.254.169.254", "cloud metadata"),
    "IPv4-mapped CGNAT": ("::ffff:100.64.0.1", "carrier-grade NAT"),
    "IPv4-mapped unspecified": ("::ffff:0.0.0.0", "unspecified"),
    "NAT64 of a private address": ("64:ff9b::10.0.0.1", "private"),
    "6to4 of a private address": ("2002:a00:1::", "private"),
    "IPv4-compatible (deprecated)": ("::127.0.0.1", "reserved"),
    "IPv6 site-local (deprecated)": ("fec0::1", "private"),
}


@pytest.mark.parametrize(("ip", "reason"), REFUSED.values(), ids=REFUSED.keys())
async def test_host_resolving_to_a_non_public_address_is_refused(ip, reason):
    with pytest.raises(UnsafeWebhookUrl, match=reason) as refused:
        await check_webhook_url("https://hooks.example.com/in", resolve=resolves_to(ip))
    assert "hooks.example.com" in str(refused.value)
    # Resolved addresses are not echoed back: that would map internal DNS for the caller.
    assert ip.split("%")[0] not in str(refused.value)


@pytest.mark.parametrize(("ip", "reason"), REFUSED.values(), ids=REFUSED.keys())
def test_is_public_address_says_no_to_each_refused_class(ip, reason):
    assert is_public_address(ip) is False


@pytest.mark.parametrize(
    "ip", [PUBLIC_V4, "8.8.8.8", "1.1.1.1", PUBLIC_V6, "::ffff:8.8.8.8", "64:ff9b::8.8.8.8"]
)
def test_is_public_address_says_yes_to_public_unicast(ip):
    assert is_public_address(ip) is True


@pytest.mark.parametrize("ip", ["", "not-an-ip", "10.0.0.256", "1.2.3", "::g", None])
def test_is_public_address_says_no_to_garbage(ip):
    assert is_public_address(ip) is False  # type: ignore[arg-type]


async def test_public_address_is_accepted_and_the_resolver_gets_host_and_port():
    resolve = resolves_to(PUBLIC_V4)
    target = await check_webhook_url("https://hooks.example.com/in?x=1", resolve=resolve)
    assert target.url == "https://hooks.example.com/in?x=1"
    assert resolve.calls == [("hooks.example.com", 443)]


async def test_public_ipv6_is_accepted():
    target = await check_webhook_url("https://hooks.example.com/", resolve=resolves_to(PUBLIC_V6))
    assert target.url == "https://hooks.example.com/"


async def test_the_checked_addresses_come_back_in_the_resolvers_order_once_each():
    # The delivery connects to these and to nothing else (see test_webhook_rebinding.py).
    resolve = resolves_to(PUBLIC_V6, PUBLIC_V4, PUBLIC_V6)
    target = await check_webhook_url("https://Hooks.example.com/in", resolve=resolve)
    assert target.host == "hooks.example.com"
    assert target.addresses == (PUBLIC_V6, PUBLIC_V4)


async def test_an_ipv4_mapped_answer_is_kept_as_the_ipv4_address_it_reaches():
    resolve = resolves_to("::ffff:8.8.8.8")
    target = await check_webhook_url("https://hooks.example.com/", resolve=resolve)
    assert target.addresses == ("8.8.8.8",)


async def test_the_name_is_resolved_once_per_check():
    resolve = resolves_to(PUBLIC_V4)
    await check_webhook_url("https://hooks.example.com/", resolve=resolve)
    assert len(resolve.calls) == 1


async def test_one_private_address_among_public_ones_is_refused():
    # The HTTP client may connect to any of the answers, so every one must be public.
    resolve = resolves_to(PUBLIC_V4, "10.0.0.7", PUBLIC_V6)
    with pytest.raises(UnsafeWebhookUrl, match="private"):
        await check_webhook_url("https://hooks.example.com/", resolve=resolve)


async def test_public_and_loopback_mix_is_refused_without_the_development_allowance():
    with pytest.raises(UnsafeWebhookUrl, match="loopback"):
        await check_webhook_url(
            "https://hooks.example.com/", resolve=resolves_to(PUBLIC_V4, "127.0.0.1")
        )


async def test_unresolvable_host_is_refused():
    async def fails(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(UnsafeWebhookUrl, match="cannot resolve host"):
        await check_webhook_url("https://nowhere.invalid/", resolve=fails)


async def test_empty_resolution_is_refused():
    with pytest.raises(UnsafeWebhookUrl, match="cannot resolve host"):
        await check_webhook_url("https://hooks.example.com/", resolve=resolves_to())


async def test_resolver_answering_garbage_is_refused():
    with pytest.raises(UnsafeWebhookUrl, match="cannot resolve host"):
        await check_webhook_url("https://hooks.example.com/", resolve=resolves_to("banana"))


async def test_default_resolver_refuses_localhost():
    # The real system resolver; `localhost` resolves locally, without the network.
    with pytest.raises(UnsafeWebhookUrl, match="loopback"):
        await check_webhook_url("https://localhost/")


async def test_default_resolver_allows_localhost_over_http_in_development():
    target = await check_webhook_url("http://localhost:8000/hook", allow_http_loopback=True)
    assert target.url == "http://localhost:8000/hook"


# --- schemes -----------------------------------------------------------------------------


async def test_http_is_refused_without_the_loopback_allowance():
    with pytest.raises(UnsafeWebhookUrl, match="https"):
        await check_webhook_url("http://hooks.example.com/", resolve=never_called)


async def test_http_is_refused_even_with_the_allowance_when_the_host_is_public():
    with pytest.raises(UnsafeWebhookUrl, match="https"):
        await check_webhook_url(
            "http://hooks.example.com/",
            allow_http_loopback=True,
            resolve=resolves_to(PUBLIC_V4),
        )


async def test_http_is_refused_when_only_some_addresses_are_loopback():
    with pytest.raises(UnsafeWebhookUrl, match="https"):
        await check_webhook_url(
            "http://dev.example.com/",
            allow_http_loopback=True,
            resolve=resolves_to("127.0.0.1", PUBLIC_V4),
        )


async def test_http_with_the_allowance_still_refuses_private_addresses():
    with pytest.raises(UnsafeWebhookUrl, match="private"):
        await check_webhook_url(
            "http://dev.example.com/",
            allow_http_loopback=True,
            resolve=resolves_to("127.0.0.1", "192.168.0.10"),
        )


@pytest.mark.parametrize("ips", [("127.0.0.1",), ("::1",), ("127.0.0.1", "::1")])
async def test_http_to_loopback_is_accepted_with_the_allowance(ips):
    resolve = resolves_to(*ips)
    target = await check_webhook_url(
        "http://dev.example.com:8080/hook", allow_http_loopback=True, resolve=resolve
    )
    assert target.url == "http://dev.example.com:8080/hook"
    assert resolve.calls == [("dev.example.com", 8080)]


@pytest.mark.parametrize("url", ["http://127.0.0.1:9000/hook", "http://[::1]:9000/hook"])
async def test_http_to_a_loopback_literal_is_accepted_with_the_allowance(url):
    target = await check_webhook_url(url, allow_http_loopback=True, resolve=never_called)
    assert target.url == url


async def test_https_to_loopback_is_accepted_only_with_the_allowance():
    with pytest.raises(UnsafeWebhookUrl, match="loopback"):
        await check_webhook_url("https://dev.example.com/", resolve=resolves_to("127.0.0.1"))
    target = await check_webhook_url(
        "https://dev.example.com/", allow_http_loopback=True, resolve=resolves_to("127.0.0.1")
    )
    assert target.url == "https://dev.example.com/"


@pytest.mark.parametrize(
    "url",
    [
        "ftp://hooks.example.com/",
        "file:///etc/passwd",
        "gopher://hooks.example.com/",
        "javascript:alert(1)",
        "ws://hooks.example.com/",
        "//hooks.example.com/",
        "hooks.example.com/in",
    ],
)
async def test_other_schemes_are_refused(url):
    with pytest.raises(UnsafeWebhookUrl):
        await check_webhook_url(url, allow_http_loopback=True, resolve=never_called)


# --- IP literals and numeric tricks --------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://127.0.0.1/", "loopback"),
        ("https://10.1.2.3:8443/", "private"),
        ("https://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("https://[::1]/", "loopback"),
        ("https://[fd00:ec2::254]/", "cloud metadata"),
        ("https://[::ffff:10.0.0.1]/", "private"),
        ("https://[::ffff:127.0.0.1]/", "loopback"),
        ("https://[::ffff:a9fe:a9fe]/", "cloud metadata"),
        ("https://[::]/", "unspecified"),
        ("https://0.0.0.0/", "unspecified"),
    ],
)
async def test_ip_literals_are_checked_without_resolving(url, reason):
    with pytest.raises(UnsafeWebhookUrl, match=reason):
        await check_webhook_url(url, resolve=never_called)


@pytest.mark.parametrize(
    "url",
    [
        "https://2130706433/",  # 127.0.0.1 as one decimal number
        "https://0x7f000001/",  # ... as hex
        "https://017700000001/",  # ... as octal
        "https://0x7f.1/",
        "https://0x7f.0.0.1/",
        "https://127.1/",
        "https://127.0.1/",
        "https://0177.0.0.1/",  # octal first part
        "https://010.0.0.1/",  # leading zero: 8.0.0.1 to inet_aton, 10.0.0.1 to a reader
        "https://3232235521/",  # 192.168.0.1
        "https://2852039166/",  # 169.254.169.254
        "https://1.2.3.4.5/",
        "https://127.0.0.1./",  # trailing dot
        "https://0/",
        "https://0x/",
        "https://%31%32%37.0.0.1/",  # percent-encoded digits
    ],
)
async def test_numeric_host_tricks_are_refused(url):
    with pytest.raises(UnsafeWebhookUrl):
        await check_webhook_url(url, allow_http_loopback=True, resolve=never_called)


@pytest.mark.parametrize(
    "url", ["https://123.example.com/", "https://1e100.net/", "https://0x.example.com/"]
)
async def test_host_names_with_digits_are_still_names(url):
    assert (await check_webhook_url(url, resolve=resolves_to(PUBLIC_V4))).url == url


async def test_public_ip_literal_is_accepted():
    v4 = await check_webhook_url(f"https://{PUBLIC_V4}/in", resolve=never_called)
    assert (v4.url, v4.host, v4.addresses) == (f"https://{PUBLIC_V4}/in", "", (PUBLIC_V4,))
    v6 = await check_webhook_url(f"https://[{PUBLIC_V6}]:8443/in", resolve=never_called)
    assert (v6.url, v6.host, v6.addresses) == (f"https://[{PUBLIC_V6}]:8443/in", "", (PUBLIC_V6,))


async def test_ipv6_zone_identifiers_are_refused():
    with pytest.raises(UnsafeWebhookUrl, match="zone"):
        await check_webhook_url("https://[fe80::1%25eth0]/", resolve=never_called)


# --- shape of the URL ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://user:pass@hooks.example.com/",
        "https://user@hooks.example.com/",
        "https://:pass@hooks.example.com/",
        "https://hooks.example.com@10.0.0.1/",
        "https://@hooks.example.com/",
    ],
)
async def test_userinfo_is_refused(url):
    with pytest.raises(UnsafeWebhookUrl, match="credentials"):
        await check_webhook_url(url, resolve=never_called)


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com\\@10.0.0.1/",
        "https://hooks.example.com /",
        "https://hooks.example.com/\n",
        "https://hooks.example.com/\tx",
        " https://hooks.example.com/",
        "https://hooks.exa\x00mple.com/",
    ],
)
async def test_parser_confusion_characters_are_refused(url):
    with pytest.raises(UnsafeWebhookUrl):
        await check_webhook_url(url, resolve=never_called)


@pytest.mark.parametrize(
    "url",
    [
        "",
        "https://",
        "https:///path",
        "https://:443/",
        "https://hooks.example.com:0/",
        "https://hooks.example.com:65536/",
        "https://hooks.example.com:port/",
        "https://hooks..example.com/",
        "https://-hooks.example.com/",
        "https://hooks_%2e.example.com/",
        "https://[::1/",
        "https://[not-ipv6]/",
        "https://" + "a" * 64 + ".example.com/",
    ],
)
async def test_malformed_urls_are_refused(url):
    with pytest.raises(UnsafeWebhookUrl):
        await check_webhook_url(url, resolve=never_called)


async def test_urls_over_2000_characters_are_refused():
    base = "https://hooks.example.com/"
    ok = base + "a" * (2000 - len(base))
    assert (await check_webhook_url(ok, resolve=resolves_to(PUBLIC_V4))).url == ok
    with pytest.raises(UnsafeWebhookUrl, match="2000"):
        await check_webhook_url(ok + "a", resolve=never_called)


async def test_unusual_ports_are_fine_and_default_ports_are_dropped():
    resolve = resolves_to(PUBLIC_V4)
    unusual = await check_webhook_url("https://hooks.example.com:8443/in", resolve=resolve)
    assert unusual.url == "https://hooks.example.com:8443/in"
    default = await check_webhook_url("https://hooks.example.com:443/in", resolve=resolve)
    assert default.url == "https://hooks.example.com/in"
    assert resolve.calls == [("hooks.example.com", 8443), ("hooks.example.com", 443)]


async def test_normalization_lowercases_drops_the_fragment_and_adds_a_path():
    resolve = resolves_to(PUBLIC_V4)
    shouted = await check_webhook_url("HTTPS://Hooks.EXAMPLE.com/In?Q=1#frag", resolve=resolve)
    assert shouted.url == "https://hooks.example.com/In?Q=1"
    bare = await check_webhook_url("https://hooks.example.com", resolve=resolve)
    assert bare.url == "https://hooks.example.com/"


async def test_international_host_names_are_checked_in_their_ascii_form():
    resolve = resolves_to(PUBLIC_V4)
    target = await check_webhook_url("https://bücher.example/x", resolve=resolve)
    assert (target.url, target.host) == ("https://xn--bcher-kva.example/x", "xn--bcher-kva.example")
    assert resolve.calls == [("xn--bcher-kva.example", 443)]


async def test_the_error_is_a_value_error_for_callers_that_map_those_to_422():
    with pytest.raises(ValueError):
        await check_webhook_url("http://hooks.example.com/")
