"""A service and its broker (issue #13 items 13 and 14): readiness gates on the store, not the
broker; a service started while the broker is unreachable keeps trying and then consumes.

The broker "comes up" as a TCP proxy on a loopback port, opened later, to the real RabbitMQ."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from libs.common import runtime
from libs.common.auth import Role, issue_dev_token
from libs.common.messaging import EventBus, create_broker
from libs.common.settings import DEV_SECRET
from libs.common.topology import Topology
from services.intake.app import create_app as create_intake
from services.intake.settings import IntakeSettings
from services.notify.app import create_app as create_notify
from services.notify.settings import NotifySettings
from tests.infra import eventually
from tests.integration.gateway_harness import FakeServices
from tests.integration.test_notify_smtp import AUTHOR, first_routed, submitted

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class BrokerProxy:
    """Forwards a loopback port to the real broker once `open()` is called; refused before, or,
    after `silence()`, accepted and never answered (a black-holed broker address)."""

    def __init__(self, rabbit_url: str) -> None:
        target = urlsplit(rabbit_url)
        self.target = (target.hostname or "127.0.0.1", target.port or 5672)
        self.port = free_port()
        self.url = urlunsplit(
            target._replace(netloc=f"{target.username}:{target.password}@127.0.0.1:{self.port}")
        )
        self._server: asyncio.Server | None = None

    async def open(self) -> None:
        await self.close()
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def silence(self) -> None:
        async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(asyncio.CancelledError):
                await reader.read()  # holds the connection, says nothing

        self._server = await asyncio.start_server(mute, "127.0.0.1", self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


@pytest.fixture
async def proxy(rabbit_url: str) -> AsyncIterator[BrokerProxy]:
    proxy = BrokerProxy(rabbit_url)
    yield proxy
    await proxy.close()


async def test_a_consumer_started_without_its_broker_serves_then_consumes_when_it_comes(
    rabbit_url: str, namespace: str, proxy: BrokerProxy
) -> None:
    settings = NotifySettings(env="dev", namespace=namespace, rabbit_url=proxy.url, channels="feed")
    app = create_notify(settings)
    async with app.router.lifespan_context(app):  # does not raise: the broker is retried
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://notify") as http:
            assert (await http.get("/health")).status_code == 200
            ready = await http.get("/ready")
            assert ready.status_code == 200, ready.text  # HTTP needs the store only
            assert ready.json()["broker"] == "down" and ready.json()["checks"] == {"store": True}
            assert 'appeals_broker_connected{service="notify"} 0.0' in (await http.get("/metrics")).text

            await proxy.open()  # the broker is back

            async def broker_up() -> bool:
                return bool((await http.get("/ready")).json()["broker"] == "up")

            await eventually(broker_up, timeout=20)
            metrics = (await http.get("/metrics")).text
            assert 'appeals_broker_connected{service="notify"} 1.0' in metrics
            publisher = create_broker(rabbit_url, prefetch=8)
            await publisher.connect()
            try:
                bus = EventBus(publisher, Topology(namespace))
                await bus.publish(submitted("appeal-b1", "2026-000901"))
                await bus.publish(first_routed("appeal-b1", "2026-000901"))

                async def consumed() -> bool:
                    feed = (
                        await http.get(f"/internal/feed/{AUTHOR}", headers={"X-Internal-Token": DEV_SECRET})
                    ).json()
                    return bool(feed["total"] == 1)

                await eventually(consumed, timeout=15)
            finally:
                await publisher.stop()


async def test_a_broker_address_that_never_answers_does_not_hang_start_up(
    namespace: str, proxy: BrokerProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime, "CONNECT_TIMEOUT", 1.0)
    await proxy.silence()
    settings = NotifySettings(env="dev", namespace=namespace, rabbit_url=proxy.url, channels="feed")
    app = create_notify(settings)
    started = time.monotonic()
    async with app.router.lifespan_context(app):
        assert time.monotonic() - started < 5  # not the minutes an AMQP handshake may wait
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://notify") as http:
            assert (await http.get("/ready")).json()["broker"] == "down"
            await proxy.open()  # the address starts answering: the next attempt connects

            async def broker_up() -> bool:
                return bool((await http.get("/ready")).json()["broker"] == "up")

            await eventually(broker_up, timeout=20)


async def test_the_gateway_stays_ready_and_accepts_appeals_while_the_broker_is_down(
    namespace: str, proxy: BrokerProxy
) -> None:
    settings = IntakeSettings(env="dev", namespace=namespace, rabbit_url=proxy.url)
    app = create_intake(settings, upstream_transport=httpx.MockTransport(FakeServices()))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            ready = await http.get("/ready")
            assert ready.status_code == 200 and ready.json()["broker"] == "down"
            token = issue_dev_token(DEV_SECRET, sub="citizen-1", role=Role.CITIZEN)
            body = {
                "kind": "complaint",
                "topic": "roads.potholes",
                "summary": "Яма у остановки",
                "description": "Глубокая яма на проезжей части у остановки.",
                "location": {"lat": 55.7, "lon": 37.6},
            }
            response = await http.post(
                "/api/v1/appeals", headers={"Authorization": f"Bearer {token}"}, json=body
            )
            assert response.status_code == 201, response.text
            doc = await app.state.runtime.db["appeals"].find_one({"_id": response.json()["id"]})
            assert doc is not None and doc["outbox"], "kept in the outbox for the relay"
            await proxy.open()

            async def published() -> bool:
                stored = await app.state.runtime.db["appeals"].find_one({"_id": response.json()["id"]})
                return stored is not None and not stored.get("outbox")

            await eventually(published, timeout=20)  # the relay sent it once the broker came


async def test_ready_is_503_when_the_store_is_what_fails(namespace: str, rabbit_url: str) -> None:
    settings = NotifySettings(env="dev", namespace=namespace, rabbit_url=rabbit_url, channels="feed")
    app = create_notify(settings)
    async with app.router.lifespan_context(app):

        async def store_down() -> bool:
            return False

        app.state.runtime.ready_check("store", store_down)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://notify") as http:
            ready = await http.get("/ready")
            assert ready.status_code == 503 and ready.json()["broker"] == "up"
            assert ready.json()["checks"]["store"] is False


def test_a_service_process_started_without_its_broker_does_not_exit(proxy: BrokerProxy) -> None:
    port = free_port()
    env = {
        **os.environ,
        "RABBIT_URL": proxy.url,  # nobody listens there
        "APPEALS_ENV": "dev",
        "APPEALS_NAMESPACE": "inputs-no-broker",
        "DEADLINES_HTTP_PORT": str(port),
    }
    env.pop("MONGO_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "services.deadlines"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        health = None
        while time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(httpx.HTTPError):
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                if health.status_code == 200:
                    break
            time.sleep(0.2)
        assert process.poll() is None, "the service exited while the broker was unreachable"
        assert health is not None and health.status_code == 200
        time.sleep(1.5)  # a few connection attempts later: still serving, not exited
        assert process.poll() is None
        assert httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2).json()["broker"] == "down"
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    assert b"broker unreachable, retrying" in stderr or process.returncode is not None
