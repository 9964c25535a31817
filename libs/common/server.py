"""The HTTP server every service runs (uvicorn over httptools), hardened against slow clients.

uvicorn parses requests with httptools (llhttp, in C; less CPU per request than h11's
pure-Python parser, docs/performance.md) and closes idle keep-alive connections
(`timeout_keep_alive`), but has neither a timeout for a request's head nor a cap on its size
there: a client that sends headers a byte at a time ("slowloris") holds its connection, and a
slot, for ever, and one that sends headers without end grows the request in memory.
`GuardedHttpToolsProtocol` closes a connection whose request head has not fully arrived within
`header_timeout` seconds (on a new connection and between requests on a kept-alive one), and
answers 400 and closes when more than `MAX_REQUEST_HEAD_BYTES` arrive before a head is complete.

`QuietServer` is uvicorn's server with its housekeeping loop woken once a second instead of ten
times: each wake-up of an idle process cost about 0.18 ms of CPU on this VM (1.8 ms a second per
process, most of an idle service's CPU; docs/performance.md), and a signal still stops it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_REQUEST_HEAD_BYTES = 16 * 1024  # request line + headers


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    header_timeout: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_complete = False
        self._head_bytes = 0  # received while the current request's head is incomplete

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Arms the timer for the first request's head."""
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        """Cancels the head timer."""
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Parses `data`; refuses a head that is still incomplete past the size cap."""
        super().data_received(data)
        if self._head_complete or self.transport.is_closing():
            return
        self._head_bytes += len(data)  # a chunk that also ends the last head counts whole: stricter
        if self._head_bytes > MAX_REQUEST_HEAD_BYTES:
            self._cancel_head_timer()
            self.send_400_response("Request head too large.")

    def on_message_begin(self) -> None:
        """A request's head begins (the parser's callback)."""
        super().on_message_begin()
        self._head_complete = False

    def on_headers_complete(self) -> None:
        """The head arrived: the application has the request now, no timer, no count."""
        self._head_complete, self._head_bytes = True, 0
        self._cancel_head_timer()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        """Arms the head timer again for the next request on this connection."""
        super().on_response_complete()
        if not self.transport.is_closing():
            self._head_complete, self._head_bytes = False, 0
            self._arm_head_timer()  # the next request's head must arrive in time too

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self._head_complete and not self.transport.is_closing():
            self.transport.close()


def guarded_protocol(header_timeout_seconds: float) -> type[GuardedHttpToolsProtocol]:
    """The protocol class for `uvicorn.Config(http=...)` with this header timeout."""
    return type(
        "GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,), {"header_timeout": header_timeout_seconds}
    )


def server_options(keep_alive_seconds: int, header_timeout_seconds: float) -> dict[str, Any]:
    """uvicorn keyword arguments against slow clients (see the module docstring)."""
    return {"http": guarded_protocol(header_timeout_seconds), "timeout_keep_alive": keep_alive_seconds}


class QuietServer(uvicorn.Server):
    """`uvicorn.Server` whose main loop ticks every `tick_seconds` (uvicorn's own: every 0.1 s).
    A tick refreshes the `Date` header (to the second, as uvicorn's) and checks for the exit flag;
    `handle_exit` (SIGTERM, SIGINT) wakes the loop at once, so shutdown is not delayed."""

    tick_seconds = 1.0

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def main_loop(self) -> None:
        """uvicorn's `main_loop` (0.54), one tick a second: `on_tick` sees a counter that is a
        multiple of ten on every tick, which is when it refreshes the `Date` header."""
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 10) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.tick_seconds)
            should_exit = await self.on_tick(counter)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """uvicorn's (the exit flag; a second SIGINT forces), then the main loop woken."""
        super().handle_exit(sig, frame)
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            loop.call_soon_threadsafe(wake.set)  # a signal handler: the loop's own thread-safe door
