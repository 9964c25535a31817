"""The HTTP server every service runs (uvicorn), hardened against slow clients.

uvicorn closes idle keep-alive connections (`timeout_keep_alive`) and caps a request's head
(h11's `max_incomplete_event_size`), but has no timeout for a request's headers: a client that
sends them a byte at a time ("slowloris") holds its connection, and a slot, for ever.
`HeaderTimeoutProtocol` closes a connection whose request head has not fully arrived within
`header_timeout` seconds, on a new connection and between requests on a kept-alive one.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

MAX_REQUEST_HEAD_BYTES = 16 * 1024  # request line + headers; larger heads are refused by h11


class HeaderTimeoutProtocol(H11Protocol):
    header_timeout: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Arms the timer for the first request's head."""
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        """Cancels the head timer."""
        self._cancel_head_timer()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        """Cancels the head timer once a request's head has arrived."""
        super().handle_events()
        if self.cycle is not None and not self.cycle.response_complete:
            self._cancel_head_timer()  # the head arrived: the application has the request now

    def on_response_complete(self) -> None:
        """Arms the head timer again for the next request on this connection."""
        super().on_response_complete()
        if not self.transport.is_closing():
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
        waiting_for_head = self.cycle is None or self.cycle.response_complete
        if waiting_for_head and not self.transport.is_closing():
            self.transport.close()


def protocol_with_header_timeout(seconds: float) -> type[HeaderTimeoutProtocol]:
    """The protocol class for `uvicorn.Config(http=...)` with this header timeout."""
    return type("HeaderTimeoutProtocol", (HeaderTimeoutProtocol,), {"header_timeout": seconds})


def server_options(keep_alive_seconds: int, header_timeout_seconds: float) -> dict[str, Any]:
    """uvicorn keyword arguments against slow clients (see the module docstring)."""
    return {
        "http": protocol_with_header_timeout(header_timeout_seconds),
        "timeout_keep_alive": keep_alive_seconds,
        "h11_max_incomplete_event_size": MAX_REQUEST_HEAD_BYTES,
    }
