"""SSRF: webhooks and push endpoints reach public addresses only, decided on the address actually
connected to at every delivery; no redirects; the receiver's answer is never echoed.

A real HTTP server on loopback stands for "an internal service": every refused case asserts that
it received nothing. Names are resolved by an injected resolver (no DNS traffic)."""

from __future__ import annotations

import base64
import ipaddress
import os
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from services.notify import service
from services.notify.addresses import BlockedTarget, check_host, is_public
from services.notify.channels import PermanentDeliveryError, TransientDeliveryError
from services.notify.outbound import AddressGuard
from services.notify.push import VapidKeys, WebPushChannel
from services.notify.schemas import ChannelName, Delivery
from services.notify.settings import NotifySettings
from services.notify.webhooks import WebhookChannel

LOOPBACK_FORMS = [
    "2130706433",
    "0x7f000001",
    "127.1",
    "0177.0.0.1",
    "0",
    "127.0.0.1.",
    "LOCALHOST.",
    "localhost",
    "api.localhost",
    "[::1]",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "[64:ff9b::7f00:1]",  # NAT64 of 127.0.0.1
    "[2002:7f00:1::]",  # 6to4 of 127.0.0.1
    "0.0.0.0",
    "[::]",
]
INTERNAL_FORMS = [
    "10.0.0.5",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # CGNAT
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "198.18.0.1",
    "[fe80::1]",
    "[fc00::1]",
    "[fec0::1]",
    "[ff02::1]",
    "0xa000005",  # 10.0.0.5 spelled as one hex number
    "3232235777",  # 192.168.1.1 as one number
]


class Recorder(BaseHTTPRequestHandler):
    hits: ClassVar[list[tuple[str, str]]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        self.hits.append((self.path, self.headers.get("host", "")))
        if self.path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", "/moved")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        status = 503 if self.path.startswith("/fail") else 201
        body = b"internal secret: db password" if status == 503 else b""
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def internal() -> Iterator[tuple[int, list[tuple[str, str]]]]:
    hits: ClassVar[list[tuple[str, str]]] = []
    handler = type("Handler", (Recorder,), {"hits": hits})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server.server_address[1], hits
    finally:
        server.shutdown()
        server.server_close()


class FakeCollection:
    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}

    async def find_one(self, query: dict[str, Any], *args: Any) -> dict[str, Any] | None:
        return self.docs.get(query["_id"])

    async def delete_one(self, query: dict[str, Any]) -> None:
        self.docs.pop(query["_id"], None)


class FakeDb:
    def __init__(self) -> None:
        self.collections: dict[str, FakeCollection] = {}

    def __getitem__(self, name: str) -> FakeCollection:
        return self.collections.setdefault(name, FakeCollection())


def resolver(answers: dict[str, list[list[str]]]) -> Any:
    """A DNS stand-in: each lookup of a name takes the next answer (the last one repeats)."""
    asked: dict[str, int] = {}

    async def resolve(host: str, port: int) -> list[str]:
        turn = asked.get(host, 0)
        asked[host] = turn + 1
        options = answers[host]
        return options[min(turn, len(options) - 1)]

    return resolve


def webhook_delivery() -> Delivery:
    return Delivery(
        id="d-1",
        key="k-1",
        channel=ChannelName.WEBHOOK,
        target_id="hook-1",
        target={"webhook_id": "hook-1"},
        appeal_id="a-1",
        event_type="appeal.routed",
        kind="appeal.routed",
        content={"body": {"event": {"id": "e-1"}, "appeal": {"id": "a-1"}}},
    )


async def deliver(url: str, guard: AddressGuard) -> None:
    db = FakeDb()
    # Stored as a webhook registered before these checks existed (registration refuses them now).
    db["webhooks"].docs["hook-1"] = {"_id": "hook-1", "url": url, "secret": "s" * 20}
    channel = WebhookChannel(db, 5.0, guard)  # type: ignore[arg-type]
    try:
        await channel.send(webhook_delivery())
    finally:
        await channel.close()


# -- the rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize("host", LOOPBACK_FORMS + INTERNAL_FORMS)
def test_every_spelling_of_an_internal_address_is_refused_at_registration(host: str) -> None:
    for insecure in (False, True):  # production, and dev without the loopback setting
        scheme = "http" if insecure else "https"
        with pytest.raises(service.InvalidEndpoint):
            service.check_endpoint(f"{scheme}://{host}/hook", allow_insecure=insecure)


@pytest.mark.parametrize("host", INTERNAL_FORMS)
def test_the_dev_loopback_setting_opens_loopback_only(host: str) -> None:
    with pytest.raises(BlockedTarget):
        check_host(host.strip("[]"), allow_loopback=True)
    assert check_host("127.0.0.1", allow_loopback=True) is not None
    assert check_host("2130706433", allow_loopback=True) == ipaddress.IPv4Address("127.0.0.1")


def test_public_addresses_pass() -> None:
    for text in ("93.184.216.34", "8.8.8.8", "2606:2800:220:1:248:1893:25c8:1946"):
        assert is_public(ipaddress.ip_address(text)), text
    assert not is_public(ipaddress.ip_address("::ffff:8.8.8.8"))  # IPv4-mapped: refused as a whole
    assert service.check_endpoint("https://hooks.example.org/x", allow_insecure=False)


# -- at every delivery -------------------------------------------------------------------------


@pytest.mark.parametrize("host", LOOPBACK_FORMS)
async def test_a_stored_webhook_to_loopback_is_never_called(
    host: str, internal: tuple[int, list[tuple[str, str]]]
) -> None:
    port, hits = internal
    with pytest.raises(PermanentDeliveryError) as refused:
        await deliver(f"http://{host}:{port}/ok", AddressGuard())
    assert str(refused.value) == "webhook target refused: not a public address"
    assert hits == []


async def test_a_name_that_resolves_to_loopback_is_refused(
    internal: tuple[int, list[tuple[str, str]]],
) -> None:
    port, hits = internal
    for answer in (["127.0.0.1"], ["::1"], ["::ffff:127.0.0.1"], ["93.184.216.34", "127.0.0.1"]):
        guard = AddressGuard(resolver({"hooks.example.test": [answer]}))
        with pytest.raises(PermanentDeliveryError):
            await deliver(f"http://hooks.example.test:{port}/ok", guard)
    assert hits == []


async def test_this_machines_own_name_resolving_to_loopback_is_refused(
    internal: tuple[int, list[tuple[str, str]]],
) -> None:
    """The operating system's resolver, no stand-in: a plain host name (not "localhost") that
    resolves to loopback here (containers and VMs map their host name in /etc/hosts)."""
    port, hits = internal
    name = socket.gethostname()
    try:
        answers = {info[4][0] for info in socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)}
    except OSError:
        pytest.skip("this machine's name does not resolve")
    if not all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in answers):
        pytest.skip(f"{name} does not resolve to loopback here")
    assert service.check_endpoint(f"https://{name}/hook", allow_insecure=False)  # a name passes...
    with pytest.raises(PermanentDeliveryError, match="not a public address"):
        await deliver(f"http://{name}:{port}/ok", AddressGuard())  # ...and is refused when called
    assert hits == []


async def test_dns_rebinding_between_check_and_connect_is_refused(
    internal: tuple[int, list[tuple[str, str]]],
) -> None:
    """The first lookup (the check) says public, the next (the connection) says loopback."""
    port, hits = internal
    guard = AddressGuard(resolver({"rebind.example.test": [["93.184.216.34"], ["127.0.0.1"]]}))
    with pytest.raises(PermanentDeliveryError) as refused:
        await deliver(f"http://rebind.example.test:{port}/ok", guard)
    assert "not a public address" in str(refused.value)
    assert hits == []


async def test_the_connection_goes_to_the_checked_address_under_the_name(
    internal: tuple[int, list[tuple[str, str]]],
) -> None:
    port, hits = internal
    guard = AddressGuard(resolver({"hooks.example.test": [["127.0.0.1"]]}), allow_loopback=True)
    await deliver(f"http://hooks.example.test:{port}/ok", guard)
    assert hits == [("/ok", f"hooks.example.test:{port}")]


async def test_redirects_are_not_followed_and_answers_are_not_echoed(
    internal: tuple[int, list[tuple[str, str]]],
) -> None:
    port, hits = internal
    guard = AddressGuard(allow_loopback=True)
    with pytest.raises(PermanentDeliveryError) as redirected:
        await deliver(f"http://127.0.0.1:{port}/redirect", guard)
    assert str(redirected.value) == "webhook answered with a redirect (not followed)"
    with pytest.raises(TransientDeliveryError) as failed:
        await deliver(f"http://127.0.0.1:{port}/fail", guard)
    assert "503" not in str(failed.value) and "secret" not in str(failed.value)
    assert [path for path, _ in hits] == ["/redirect", "/fail"]  # never /moved


# -- Web Push ----------------------------------------------------------------------------------


def push_channel(db: FakeDb, guard: AddressGuard) -> WebPushChannel:
    settings = NotifySettings(env="dev")
    keys = VapidKeys.from_settings(settings)
    assert keys is not None
    return WebPushChannel(db, keys, settings, guard)  # type: ignore[arg-type]


def subscription(endpoint: str) -> dict[str, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return {"_id": "sub-1", "endpoint": endpoint, "keys": {"p256dh": b64(point), "auth": b64(os.urandom(16))}}


def push_delivery() -> Delivery:
    note = {
        "id": "n-1",
        "key": "k-1",
        "kind": "registered",
        "owner": "user:u-1",
        "audience": "citizen",
        "appeal_id": "a-1",
        "number": "2026-000001",
        "title": "t",
        "body": "b",
        "lang": "ru",
        "created_at": "2026-11-30T10:00:00Z",
        "event_id": "e-1",
    }
    return Delivery(
        id="d-2",
        key="k-1",
        channel=ChannelName.PUSH,
        target_id="u-1:sub-1",
        target={"subscription_id": "sub-1"},
        appeal_id="a-1",
        event_type="appeal.submitted",
        kind="submitted",
        content=note,
    )


@pytest.mark.parametrize("host", ["2130706433", "0x7f000001", "127.1", "[::ffff:127.0.0.1]", "localhost"])
async def test_push_to_an_internal_address_is_never_sent(
    host: str, internal: tuple[int, list[tuple[str, str]]]
) -> None:
    port, hits = internal
    db = FakeDb()
    db["push_subscriptions"].docs["sub-1"] = subscription(f"http://{host}:{port}/push/1")
    channel = push_channel(db, AddressGuard())
    try:
        with pytest.raises(PermanentDeliveryError, match="not a public address"):
            await channel.send(push_delivery())
    finally:
        await channel.close()
    assert hits == []


async def test_push_names_are_checked_at_connect_and_redirects_refused(
    internal: tuple[int, list[tuple[str, str]]],
) -> None:
    port, hits = internal
    db = FakeDb()
    db["push_subscriptions"].docs["sub-1"] = subscription(f"http://push.example.test:{port}/push/1")
    rebinding = AddressGuard(resolver({"push.example.test": [["93.184.216.34"], ["127.0.0.1"]]}))
    channel = push_channel(db, rebinding)
    try:
        with pytest.raises(PermanentDeliveryError, match="not a public address"):
            await channel.send(push_delivery())
    finally:
        await channel.close()
    assert hits == []

    db["push_subscriptions"].docs["sub-1"] = subscription(f"http://127.0.0.1:{port}/redirect/1")
    channel = push_channel(db, AddressGuard(allow_loopback=True))
    try:
        with pytest.raises(PermanentDeliveryError, match="redirect"):
            await channel.send(push_delivery())
    finally:
        await channel.close()
    assert [path for path, _ in hits] == ["/redirect/1"]  # never /moved
