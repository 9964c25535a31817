"""A local webhook receiver that checks notify's signatures: the reference for integrators.

Command line: `python -m devstack.webhook_sink --port 9100 --secret <the webhook's secret>` prints
one line per verified event and refuses (401) anything unsigned, badly signed or stale.
In tests: `WebhookSink(secret=...)`, `start()`, `await sink.wait_for(lambda events: ...)`, `stop()`;
`fail_first=n` answers 503 to the first n deliveries (to watch the retries).

Verification, in any language: HMAC-SHA256 with the secret over `<X-Appeals-Timestamp>.<raw body>`,
hex-encoded, compared in constant time with `X-Appeals-Signature` (`sha256=<hex>`); refuse a
timestamp more than 5 minutes away; deduplicate on `X-Appeals-Delivery` (retries repeat it).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOLERANCE_SECONDS = 300
MAX_BODY = 1024 * 1024


def verify(secret: str, timestamp: str | None, signature: str | None, body: bytes, now: float) -> bool:
    if not timestamp or not signature or not timestamp.isdigit():
        return False
    if abs(now - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(f"sha256={expected}", signature)


@dataclass(frozen=True)
class Received:
    delivery_id: str
    event_type: str
    body: dict[str, Any]


class WebhookSink:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 9100,
        secret: str = "",
        *,
        fail_first: int = 0,
        echo: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.secret = secret
        self.echo = echo
        self.received: list[Received] = []
        self.refused = 0
        self.attempts = 0
        self._fail_first = fail_first
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hooks/appeals"

    def start(self) -> None:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    self.send_error(413)
                    return
                status = sink._receive(dict(self.headers.items()), self.rfile.read(length))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook-sink", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> WebhookSink:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    async def wait_for(
        self, predicate: Callable[[list[Received]], bool], timeout: float = 10.0
    ) -> list[Received]:
        deadline = time.monotonic() + timeout
        while True:
            received = self.snapshot()
            if predicate(received):
                return received
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"webhook sink: condition not met within {timeout}s ({len(received)} events)"
                )
            await asyncio.sleep(0.05)

    def _receive(self, headers: dict[str, str], body: bytes) -> int:
        lower = {name.lower(): value for name, value in headers.items()}
        with self._lock:
            self.attempts += 1
            if not verify(
                self.secret,
                lower.get("x-appeals-timestamp"),
                lower.get("x-appeals-signature"),
                body,
                time.time(),
            ):
                self.refused += 1
                return 401
            if self._fail_first > 0:
                self._fail_first -= 1
                return 503
            event = Received(
                lower.get("x-appeals-delivery", ""), lower.get("x-appeals-event", ""), json.loads(body)
            )
            self.received.append(event)
        if self.echo:
            appeal = event.body.get("appeal") or {}
            print(
                f"{time.strftime('%H:%M:%S')} verified {event.event_type} appeal {appeal.get('number')} "
                f"(delivery {event.delivery_id})",
                flush=True,
            )
        return 204


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local webhook receiver: prints verified, signed events.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--secret", required=True, help="the secret given when the webhook was registered")
    args = parser.parse_args(argv)

    stop_signals = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    sink = WebhookSink(args.host, args.port, args.secret, echo=True)
    sink.start()
    print(f"webhook sink listening on {sink.url}", flush=True)
    try:
        signal.sigwait(stop_signals)
    finally:
        sink.stop()


if __name__ == "__main__":
    main()
