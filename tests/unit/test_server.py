"""Every service's HTTP server against slow clients, and its security headers."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request

from libs.common.server import MAX_REQUEST_HEAD_BYTES, QuietServer, server_options
from services.deadlines.app import create_app as deadlines_app
from services.deadlines.settings import DeadlinesSettings
from services.intake.app import create_app as intake_app
from services.intake.settings import IntakeSettings
from services.media.app import create_app as media_app
from services.media.settings import MediaSettings
from services.notify.app import create_app as notify_app
from services.notify.settings import NotifySettings
from services.polls.app import create_app as polls_app
from services.polls.settings import PollsSettings
from services.routing.app import create_app as routing_app
from services.routing.settings import RoutingSettings
from tests.infra import eventually


def tiny_app() -> FastAPI:
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "yes"}

    @app.post("/echo-size")
    async def echo_size(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    return app


def loopback_socket() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


async def serve_in_background(running: uvicorn.Server, sock: socket.socket) -> asyncio.Task[None]:
    """`running` serving on `sock` in a task, returned once it has started."""
    task = asyncio.create_task(running.serve(sockets=[sock]))

    async def started() -> bool:
        return running.started

    await eventually(started, timeout=10, interval=0.01)
    return task


@pytest.fixture
async def server() -> AsyncIterator[int]:
    sock = loopback_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        tiny_app(), log_config=None, access_log=False, lifespan="off", **server_options(1, 0.5)
    )
    running = uvicorn.Server(config)
    task = await serve_in_background(running, sock)
    try:
        yield port
    finally:
        running.should_exit = True
        await task
        sock.close()


async def closed_after(reader: asyncio.StreamReader, limit: float) -> float:
    """Seconds until the server closes the connection (reads until EOF), at most `limit`."""
    started = time.monotonic()
    while await asyncio.wait_for(reader.read(4096), timeout=limit):
        pass
    return time.monotonic() - started


async def test_headers_sent_slowly_are_cut_off(server: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    started = time.monotonic()
    writer.write(b"GET /ping HTTP/1.1\r\nHost: x\r\n")
    closed = False
    for _ in range(40):  # one header byte every 0.1 s: 4 s if it were let through
        if writer.is_closing() or reader.at_eof():
            break
        try:
            writer.write(b"X")
            await writer.drain()
        except ConnectionError:
            break
        try:
            if await asyncio.wait_for(reader.read(1), timeout=0.1) == b"":
                closed = True
                break
        except TimeoutError:
            continue
    took = time.monotonic() - started
    writer.close()
    assert closed or reader.at_eof(), "the server kept a slow client's connection open"
    assert took < 2.0, took


async def test_a_prompt_request_is_served_and_an_idle_connection_closed(server: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    writer.write(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
    assert head.startswith(b"HTTP/1.1 200")
    # Kept alive, then idle: closed within keep-alive (1 s) + a margin.
    assert await closed_after(reader, 3.0) < 3.0
    writer.close()


async def test_a_head_larger_than_the_cap_is_refused_and_the_connection_closed(server: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    writer.write(b"GET /ping HTTP/1.1\r\nHost: x\r\n")
    for _ in range(MAX_REQUEST_HEAD_BYTES // 1024 + 2):  # headers without end, each under the cap
        writer.write(b"X-Filler: " + b"a" * 1000 + b"\r\n")
    with contextlib.suppress(ConnectionError):
        await writer.drain()
    answer = await asyncio.wait_for(reader.read(), timeout=5)  # until the server closes
    writer.close()
    assert answer.startswith(b"HTTP/1.1 400"), answer[:80]


async def test_a_body_arriving_with_its_head_is_not_counted_as_head(server: int) -> None:
    """A 200 KB body sent in the same write as its head: served, not refused as a large head."""
    body = b"a" * (200 * 1024)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server}") as client:
        response = await client.post("/echo-size", content=body)
        assert response.status_code == 200 and response.json() == {"bytes": len(body)}
        # A header block just under the cap is still a request.
        near = {f"x-h{i}": "b" * 900 for i in range(MAX_REQUEST_HEAD_BYTES // 1024 - 2)}
        assert (await client.get("/ping", headers=near)).status_code == 200


SERVICES: list[tuple[str, Any]] = [
    ("intake", lambda: intake_app(IntakeSettings(env="dev"))),
    ("routing", lambda: routing_app(RoutingSettings(env="dev"))),
    ("deadlines", lambda: deadlines_app(DeadlinesSettings(env="dev"))),
    ("notify", lambda: notify_app(NotifySettings(env="dev"))),
    ("media", lambda: media_app(MediaSettings(env="dev"))),
    ("polls", lambda: polls_app(PollsSettings(env="dev"))),
]


@pytest.mark.parametrize(("name", "build"), SERVICES, ids=[name for name, _ in SERVICES])
async def test_every_service_sends_security_headers(name: str, build: Any) -> None:
    app = build()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as client:
        health = await client.get("/health")
        internal = await client.get("/internal/nothing", headers={"X-Internal-Token": "wrong"})
    assert health.headers["x-content-type-options"] == "nosniff"
    assert health.headers["x-frame-options"] == "DENY"
    assert "cache-control" not in health.headers
    assert internal.headers["x-content-type-options"] == "nosniff"
    assert internal.headers["cache-control"] == "no-store"  # a token was sent: may be personal


class CountingServer(QuietServer):
    """Records the counter of each tick uvicorn's `on_tick` is given."""

    def __init__(self, config: uvicorn.Config, tick_seconds: float) -> None:
        super().__init__(config)
        self.tick_seconds = tick_seconds
        self.ticks: list[int] = []

    async def on_tick(self, counter: int) -> bool:
        self.ticks.append(counter)
        return await super().on_tick(counter)


# uvicorn raises each signal its server captured again once the server has stopped (as a real
# SIGTERM should end the process): the tests "send" one whose default action is to be ignored.
HARMLESS_SIGNAL = signal.SIGWINCH


async def serve_quietly(tick_seconds: float) -> tuple[CountingServer, asyncio.Task[None], socket.socket]:
    sock = loopback_socket()
    config = uvicorn.Config(tiny_app(), log_config=None, access_log=False, lifespan="off")
    running = CountingServer(config, tick_seconds)
    return running, await serve_in_background(running, sock), sock


async def test_every_tick_of_the_quiet_server_refreshes_the_date_header() -> None:
    running, task, sock = await serve_quietly(tick_seconds=0.01)
    try:

        async def ticked() -> bool:
            return len(running.ticks) >= 5

        await eventually(ticked, timeout=10, interval=0.01)
        # uvicorn's on_tick refreshes the Date header when the counter is a multiple of ten.
        assert all(counter % 10 == 0 for counter in running.ticks)
        assert any(name == b"date" for name, _ in running.server_state.default_headers)
    finally:
        running.handle_exit(HARMLESS_SIGNAL, None)
        await task
        sock.close()


async def test_a_signal_stops_the_quiet_server_without_waiting_for_its_tick() -> None:
    running, task, sock = await serve_quietly(tick_seconds=3600)  # a tick would never come
    port = sock.getsockname()[1]
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"http://127.0.0.1:{port}/ping")).json() == {"pong": "yes"}
    # As the signal handler does, from outside the loop's own callbacks.
    await asyncio.get_running_loop().run_in_executor(None, running.handle_exit, HARMLESS_SIGNAL, None)
    await asyncio.wait_for(task, timeout=10)
    assert running.should_exit and len(running.ticks) == 2  # the first, then the one the signal woke
    sock.close()
