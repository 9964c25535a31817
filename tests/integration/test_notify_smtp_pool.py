"""notify's SMTP connections (channels.SmtpTransport) against a real relay on loopback (aiosmtpd):
one kept for many e-mails, renewed when the relay drops it, a few for many at once."""

from __future__ import annotations

import asyncio
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from devstack.mailsink import free_port
from services.notify.channels import SmtpTransport
from services.notify.settings import NotifySettings

pytestmark = pytest.mark.integration

ADDRESS = "citizen42@example.org"


class _CountingRelay:
    """aiosmtpd handler noting which connection (the client's address and port) carried each message."""

    def __init__(self) -> None:
        self.peers: list[object] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.peers.append(session.peer)
        return "250 Message accepted for delivery"


def _relay(port: int, handler: _CountingRelay) -> Controller:
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    return controller


def _message(n: int) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "no-reply@appeals.local"
    message["To"] = ADDRESS
    message["Subject"] = f"message {n}"
    message.set_content(f"body {n}")
    return message


async def test_smtp_connection_is_kept_for_many_emails_and_renewed_when_the_relay_drops_it() -> None:
    port = free_port()
    handler = _CountingRelay()
    controller = _relay(port, handler)
    transport = SmtpTransport(NotifySettings(env="dev", smtp_port=port, smtp_timeout=2))
    try:
        for n in range(5):
            await transport(_message(n))
        assert len(handler.peers) == 5 and len(set(handler.peers)) == 1  # one connection for five
        assert transport.connections == 1

        controller.stop()  # the relay goes away: the kept connection is dead
        controller = _relay(port, handler)
        await transport(_message(5))
        await transport(_message(6))
        assert len(handler.peers) == 7 and handler.peers[5] != handler.peers[4]
        assert handler.peers[5] == handler.peers[6] and transport.connections == 2
    finally:
        await transport.close()
        controller.stop()


async def test_concurrent_emails_use_a_few_kept_connections() -> None:
    port = free_port()
    handler = _CountingRelay()
    controller = _relay(port, handler)
    transport = SmtpTransport(NotifySettings(env="dev", smtp_port=port, smtp_timeout=2), pool=2)
    try:
        await asyncio.gather(*(transport(_message(n)) for n in range(4)))
        await asyncio.gather(*(transport(_message(n)) for n in range(4, 8)))
        assert len(handler.peers) == 8
        # four at once need four connections; two are kept (the pool) and reused, two said goodbye
        assert transport.connections == 6 and len(set(handler.peers[4:]) & set(handler.peers[:4])) == 2
    finally:
        await transport.close()
        controller.stop()
