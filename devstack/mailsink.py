"""A local SMTP sink on loopback (the dev stand-in for Mailpit), built on aiosmtpd.

Command line: `python -m devstack.mailsink --host 127.0.0.1 --port 1025 --dir var/mail` writes every
message as an `.eml` file and prints one line per message. In tests: `MailSink(host, port)`,
`start()`, then `await sink.wait_for(lambda msgs: len(msgs) == 1)`, `stop()`.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import signal
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from pathlib import Path
from typing import Any, Self

from aiosmtpd.controller import Controller

Predicate = Callable[[list[EmailMessage]], bool]


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the sink needs a real one: aiosmtpd probes it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class _Handler:
    def __init__(self, sink: MailSink) -> None:
        self._sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self._sink.refuse_with is not None:  # a relay that is "down" for a while (tests)
            return self._sink.refuse_with
        raw = envelope.original_content or envelope.content
        self._sink._received(raw if isinstance(raw, bytes) else str(raw).encode(), list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


class MailSink:
    """Accepts every message; keeps it parsed in `messages` and, given a directory, as `.eml`."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 1025,
        directory: str | Path | None = None,
        *,
        echo: bool = False,
        smtputf8: bool = True,
    ) -> None:
        self.host = host
        self.smtputf8 = smtputf8  # offers SMTPUTF8 (RFC 6531), as Postfix and Mailpit do
        # Set to an SMTP reply (e.g. "451 4.3.0 try again later") to refuse every message.
        self.refuse_with: str | None = None
        self.port = port
        self.directory = Path(directory) if directory is not None else None
        self.echo = echo
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []  # each message's envelope recipients (RCPT TO)
        self._lock = threading.Lock()
        self._counter = itertools.count(1)
        self._controller: Controller | None = None

    def start(self) -> None:
        if self._controller is not None:
            return
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
        controller = Controller(
            _Handler(self), hostname=self.host, port=self.port, enable_SMTPUTF8=self.smtputf8
        )
        controller.start()  # returns once the server answers on the port
        self._controller = controller

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def snapshot(self) -> list[EmailMessage]:
        with self._lock:
            return list(self.messages)

    async def wait_for(
        self,
        predicate: Predicate,
        timeout: float = 10.0,
        interval: float = 0.05,
    ) -> list[EmailMessage]:
        """Poll until `predicate(messages)` holds; returns those messages. For async tests."""
        deadline = time.monotonic() + timeout
        while True:
            messages = self.snapshot()
            if predicate(messages):
                return messages
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"mail sink: condition not met within {timeout}s ({len(messages)} messages)"
                )
            await asyncio.sleep(interval)

    def wait_for_sync(
        self, predicate: Predicate, timeout: float = 10.0, interval: float = 0.05
    ) -> list[EmailMessage]:
        """The same for code without an event loop (never call it on a running loop: it blocks)."""
        deadline = time.monotonic() + timeout
        while True:
            messages = self.snapshot()
            if predicate(messages):
                return messages
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"mail sink: condition not met within {timeout}s ({len(messages)} messages)"
                )
            time.sleep(interval)

    def _received(self, raw: bytes, rcpt_tos: list[str]) -> None:
        message = BytesParser(policy=default_policy).parsebytes(raw)
        assert isinstance(message, EmailMessage)
        now = datetime.now(UTC)
        name = f"{now:%Y%m%dT%H%M%S%f}Z-{next(self._counter):06d}.eml"
        if self.directory is not None:
            (self.directory / name).write_bytes(raw)
        with self._lock:
            self.messages.append(message)
            self.recipients.append(list(rcpt_tos))
        if self.echo:
            print(
                f"{now:%H:%M:%S} to={', '.join(rcpt_tos)} subject={message['subject']!r} -> {name}",
                flush=True,
            )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local SMTP sink: stores every message as an .eml file.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1025)
    parser.add_argument("--dir", default="var/mail", help="where the .eml files go")
    args = parser.parse_args(argv)

    # Block the stop signals before aiosmtpd's thread starts (it inherits the mask), then wait.
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    sink = MailSink(args.host, args.port, args.dir, echo=True)
    sink.start()
    print(
        f"mail sink listening on {args.host}:{args.port}, writing to {Path(args.dir).resolve()}", flush=True
    )
    try:
        signal.sigwait(stop_signals)
    finally:
        sink.stop()


if __name__ == "__main__":
    main()
