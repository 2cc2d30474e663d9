"""DNS rebinding: a delivery goes to an address its URL check approved, whatever the name says next.

The system resolver is replaced by a scripted one: the event loop's `getaddrinfo`, which the URL
check uses and which httpx would use if it looked the name up again. Like an attacker's DNS
server, it answers a public address to the first lookup and 127.0.0.1 to any later one. Requests
are captured with httpx's MockTransport, or received on loopback; nothing else is contacted.
"""

import asyncio
import contextlib
import socket
import ssl
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app.sync.worker import Worker

NAME = "hooks.example.com"
PUBLIC = "93.184.216.34"
PUBLIC_V6 = "2606:4700:4700::1111"
LOOPBACK = "127.0.0.1"


class ScriptedDns:
    """Answers scripted names lookup by lookup (the last answer repeats); others go to the real
    resolver. `lookups` counts the lookups of each scripted name."""

    def __init__(self, real) -> None:
        self.real = real
        self.script: dict[str, list[list[str]]] = {}
        self.lookups: Counter[str] = Counter()

    def answer(self, name: str, *lookups: list[str]) -> None:
        self.script[name] = list(lookups)
        self.lookups[name] = 0

    async def getaddrinfo(self, host, port, *, family=0, type=0, proto=0, flags=0):
        name = host.decode() if isinstance(host, bytes) else host  # httpx's anyio passes bytes
        if name not in self.script:
            return await self.real(host, port, family=family, type=type, proto=proto, flags=flags)
        self.lookups[name] += 1
        answers = self.script[name]
        ips = answers.pop(0) if len(answers) > 1 else answers[0]
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (ip, port, 0, 0))
            if ":" in ip
            else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))
            for ip in ips
        ]


@pytest.fixture
async def dns(monkeypatch):
    loop = asyncio.get_running_loop()
    scripted = ScriptedDns(loop.getaddrinfo)
    monkeypatch.setattr(loop, "getaddrinfo", scripted.getaddrinfo)
    return scripted


class Recorder:
    """A MockTransport handler: keeps every request httpx is asked to send, answers 200, and
    refuses the connection for the addresses in `refuse`."""

    def __init__(self, refuse: tuple[str, ...] = ()) -> None:
        self.requests: list[httpx.Request] = []
        self.refuse = refuse

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.host in self.refuse:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200)


async def register_and_ping(client, world, url: str) -> None:
    response = await client.post(
        "/v1/webhooks",
        headers=world.auth("admin"),
        json={"url": url, "event_types": ["goal.created"]},
    )
    assert response.status_code == 201, response.text
    pinged = await client.post(
        f"/v1/webhooks/{response.json()['id']}/ping", headers=world.auth("admin")
    )
    assert pinged.status_code == 202, pinged.text


async def deliver(app, http: httpx.AsyncClient | None = None) -> Worker:
    worker = Worker(app.state.sessionmaker, allow_http_loopback=http is None, http=http)
    await worker.deliver_due()
    return worker


async def deliver_to_recorder(app, recorder: Recorder) -> Worker:
    async with httpx.AsyncClient(transport=httpx.MockTransport(recorder)) as http:
        return await deliver(app, http)


async def test_a_delivery_goes_to_the_checked_address_not_to_the_rebound_one(
    client, world, app, dns
):
    dns.answer(NAME, [PUBLIC])
    await register_and_ping(client, world, f"https://{NAME}/in")
    dns.answer(NAME, [PUBLIC], [LOOPBACK])  # public to the check, loopback to any later lookup
    recorder = Recorder()
    worker = await deliver_to_recorder(app, recorder)
    assert [str(r.url) for r in recorder.requests] == [f"https://{PUBLIC}/in"]
    assert worker.stats["delivered"] == 1


async def test_the_name_travels_in_the_host_header_and_as_the_tls_server_name(
    client, world, app, dns
):
    dns.answer(NAME, [PUBLIC])
    await register_and_ping(client, world, f"https://{NAME}:8443/in?x=1")
    recorder = Recorder()
    await deliver_to_recorder(app, recorder)
    [sent] = recorder.requests
    assert str(sent.url) == f"https://{PUBLIC}:8443/in?x=1"
    assert sent.headers["Host"] == f"{NAME}:8443"
    # httpcore sends this as SNI and verifies the certificate against it.
    assert sent.extensions["sni_hostname"] == NAME


async def test_a_connection_opened_for_one_name_is_not_reused_for_another(client, world, app, dns):
    # Connections are pooled by address; two names on one address must not share one.
    dns.answer(NAME, [PUBLIC])
    await register_and_ping(client, world, f"https://{NAME}/in")
    recorder = Recorder()
    await deliver_to_recorder(app, recorder)
    assert recorder.requests[0].headers["Connection"] == "close"


async def test_when_a_checked_address_refuses_the_next_checked_one_is_tried(
    client, world, app, dns
):
    dns.answer(NAME, [PUBLIC_V6, PUBLIC])
    await register_and_ping(client, world, f"https://{NAME}/in")
    recorder = Recorder(refuse=(PUBLIC_V6,))
    worker = await deliver_to_recorder(app, recorder)
    assert [str(r.url) for r in recorder.requests] == [
        f"https://[{PUBLIC_V6}]/in",
        f"https://{PUBLIC}/in",
    ]
    assert worker.stats["delivered"] == 1


async def test_a_url_naming_its_address_is_sent_as_it_is(client, world, app, dns):
    await register_and_ping(client, world, f"https://{PUBLIC}/in")
    recorder = Recorder()
    await deliver_to_recorder(app, recorder)
    [sent] = recorder.requests
    assert str(sent.url) == f"https://{PUBLIC}/in"
    assert sent.headers["Host"] == PUBLIC
    assert "sni_hostname" not in sent.extensions


# --- real connections, on loopback only ----------------------------------------------------


class Receiver:
    """An ASGI app that answers 200 and keeps the Host header of each request."""

    def __init__(self) -> None:
        self.hosts: list[str] = []

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        self.hosts.append(dict(scope["headers"])[b"host"].decode())
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


@contextlib.asynccontextmanager
async def serving(receiver: Receiver, **ssl_files: str):
    """`receiver` on a free port of 127.0.0.1 (and nowhere else), with TLS when given files."""
    sock = socket.socket()
    sock.bind((LOOPBACK, 0))
    config = uvicorn.Config(receiver, log_level="warning", lifespan="off", **ssl_files)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        await task


@pytest.fixture
def loopback_allowed(app, monkeypatch):
    monkeypatch.setattr(app.state.settings, "webhook_allow_http_loopback", True)


async def test_a_real_delivery_reaches_the_checked_address_after_the_name_moves(
    client, world, app, dns, loopback_allowed
):
    # Nothing listens on 127.0.0.2: a client that looked the name up again would fail.
    receiver = Receiver()
    async with serving(receiver) as port:
        dns.answer("receiver.example", [LOOPBACK])
        await register_and_ping(client, world, f"http://receiver.example:{port}/hook")
        dns.answer("receiver.example", [LOOPBACK], ["127.0.0.2"])
        worker = await deliver(app)
    assert worker.stats["delivered"] == 1
    assert receiver.hosts == [f"receiver.example:{port}"]


async def test_a_delivery_looks_the_name_up_once(client, world, app, dns, loopback_allowed):
    # Through the real HTTP client: the check's lookup is the only one.
    receiver = Receiver()
    async with serving(receiver) as port:
        dns.answer("receiver.example", [LOOPBACK])
        await register_and_ping(client, world, f"http://receiver.example:{port}/hook")
        dns.answer("receiver.example", [LOOPBACK])
        worker = await deliver(app)
    assert worker.stats["delivered"] == 1
    assert dns.lookups["receiver.example"] == 1


def self_signed_certificate(name: str, directory) -> tuple[str, str, str]:
    """Certificate and key files for `name`, and the certificate as PEM to trust."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_text(pem)
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_file), str(key_file), pem


@pytest.mark.parametrize(
    ("certificate_for", "delivered"), [("receiver.example", 1), ("someone-else.example", 0)]
)
async def test_the_certificate_is_verified_for_the_name_not_for_the_address(
    client, world, app, dns, loopback_allowed, tmp_path, certificate_for, delivered
):
    cert_file, key_file, pem = self_signed_certificate(certificate_for, tmp_path)
    receiver = Receiver()
    async with serving(receiver, ssl_certfile=cert_file, ssl_keyfile=key_file) as port:
        dns.answer("receiver.example", [LOOPBACK])
        await register_and_ping(client, world, f"https://receiver.example:{port}/hook")
        trusting = ssl.create_default_context(cadata=pem)
        async with httpx.AsyncClient(verify=trusting) as http:
            worker = Worker(app.state.sessionmaker, allow_http_loopback=True, http=http)
            await worker.deliver_due()
    assert worker.stats["delivered"] == delivered
    assert len(receiver.hosts) == delivered
