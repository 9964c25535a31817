"""Delivery channels behind one small interface: the feed and e-mail here, push and webhooks
in their own modules. Which ones run is chosen at start (NOTIFY_CHANNELS)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from email.message import Message
from email.utils import parseaddr
from typing import Any, Protocol

import aiosmtplib
from pymongo.errors import BulkWriteError, DuplicateKeyError

from libs.common.store import Database
from services.notify.rendering import InvalidAddress, build_message, parse_address, render_email
from services.notify.schemas import ChannelName, Delivery, Notification
from services.notify.settings import NotifySettings

FEED = "feed"
PUSH_SUBSCRIPTIONS = "push_subscriptions"
WEBHOOKS = "webhooks"
DUPLICATE_KEY = 11000

MailTransport = Callable[[Message], Awaitable[None]]  # EmailMessage or compat32 (rendering.py)


class PermanentDeliveryError(Exception):
    """Retrying cannot help (a malformed or refused address, a gone subscription): record, move on."""


class TransientDeliveryError(Exception):
    """A provider failed in a way a retry may fix; the text is safe to log (no address, no body)."""


class Channel(Protocol):
    name: ChannelName

    async def send(self, delivery: Delivery) -> None: ...


class FeedChannel:
    """The in-app feed: one document per notification, created once whatever the retries. The item
    (its `_id` is the notification's) is its own record: no delivery log entry is needed."""

    name = ChannelName.FEED

    def __init__(self, db: Database) -> None:
        self._db = db

    async def send(self, delivery: Delivery) -> None:
        await self.write([delivery])

    async def write(self, deliveries: Sequence[Delivery]) -> None:
        """All of an event's feed items in one write; those already there are left as they are.
        Raises what the store raises (ConnectionFailure, …), except duplicate keys."""
        await insert_new(self._db[FEED], [_feed_item(d.content) for d in deliveries])


async def insert_new(collection: Any, docs: list[dict[str, Any]]) -> set[int]:
    """Insert the documents in one write, unordered; returns the indexes of those that were there
    already (duplicate `_id`s are left as they are). One document goes as `insert`'s single form,
    a quarter less of the driver's CPU than a bulk of one. Raises anything else the store raises."""
    if not docs:
        return set()
    if len(docs) == 1:
        try:
            await collection.insert_one(docs[0])
        except DuplicateKeyError:
            return {0}
        return set()
    try:
        await collection.insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        return duplicates(exc)
    return set()


def duplicates(exc: BulkWriteError) -> set[int]:
    """The indexes of an unordered insert_many's documents that were there already (code 11000).
    Re-raises `exc` if anything else failed."""
    errors = exc.details.get("writeErrors", [])
    if any(error.get("code") != DUPLICATE_KEY for error in errors):
        raise exc
    return {int(error["index"]) for error in errors}


def _feed_item(content: dict[str, Any]) -> dict[str, Any]:
    """The stored feed item of a notification (Delivery.content: Notification as JSON)."""
    return {
        "_id": content["id"],
        "key": content["key"],
        "owner": content["owner"],
        "appeal_id": content["appeal_id"],
        "number": content["number"],
        "kind": content["kind"],
        "title": content["title"],
        "body": content["body"],
        "detail": content.get("detail"),
        "urgent": bool(content.get("urgent")),
        "created_at": datetime.fromisoformat(content["created_at"]),
        "read_by": [],
        "event_id": content["event_id"],
    }


class EmailChannel:
    name = ChannelName.EMAIL

    def __init__(
        self, mail_from: str, transport: MailTransport, app_url: str | None = None, *, smtputf8: bool = False
    ) -> None:
        self._from = mail_from
        self._smtputf8 = smtputf8  # the relay takes non-ASCII local parts (RFC 6531)
        self._domain = parseaddr(mail_from)[1].rpartition("@")[2] or "appeals.local"
        self._transport = transport
        self._app_url = app_url

    async def send(self, delivery: Delivery) -> None:
        """E-mail the notification to the delivery's target address. Raises PermanentDeliveryError
        when the address is not deliverable; the transport's errors pass through."""
        note = Notification.model_validate(delivery.content)
        try:
            to = parse_address(str(delivery.target.get("email") or ""), smtputf8=self._smtputf8)
        except InvalidAddress as exc:
            raise PermanentDeliveryError(str(exc)) from None
        message = build_message(
            render_email(note, app_url=self._app_url),
            sender=self._from,
            to=to,
            message_id=f"<{note.id}@{self._domain}>",
            notification=note,
        )
        await self._transport(message)


class SmtpTransport:
    """Hands a message to the configured SMTP relay (Mailpit, the dev sink, or production) over a
    connection kept open between messages (at most `pool` idle ones per process): one TCP, TLS
    and EHLO per connection, not per e-mail. A connection that fails is closed, never reused; a
    kept one the relay has meanwhile dropped (SMTPServerDisconnected before the message was
    accepted) is replaced by a new one, once, for the same message."""

    def __init__(self, settings: NotifySettings, pool: int = 4) -> None:
        self._settings = settings
        self._idle: list[aiosmtplib.SMTP] = []
        self._pool = pool
        self.connections = 0  # opened so far (for tests and the bench)

    async def __call__(self, message: Message) -> None:
        """Send one message. Raises PermanentDeliveryError (a 5xx refusal of every recipient, no
        SMTPUTF8), else what aiosmtplib raises (a transient failure: SMTPException, OSError...)."""
        client = self._take()
        reused = client is not None
        try:
            try:
                client = client or await self._connect()
                await client.send_message(message)
            except aiosmtplib.SMTPServerDisconnected:
                if not reused:
                    raise
                _discard(client)  # the kept one went stale: one new connection, once
                client, reused = None, False
                client = await self._connect()
                await client.send_message(message)
        except aiosmtplib.SMTPNotSupported:
            # A non-ASCII local part and a relay without SMTPUTF8: retrying cannot help. The doors
            # refuse such addresses unless APPEALS_MAIL_SMTPUTF8 says the relay supports it.
            _discard(client)
            raise PermanentDeliveryError("the mail relay does not support SMTPUTF8") from None
        except aiosmtplib.SMTPRecipientsRefused as exc:
            _discard(client)
            codes = [refused.code for refused in exc.recipients]
            if codes and all(code >= 500 for code in codes):
                raise PermanentDeliveryError(f"recipient refused by the relay ({codes[0]})") from None
            raise
        except BaseException:
            _discard(client)
            raise
        if len(self._idle) < self._pool:
            self._idle.append(client)
        else:
            await _quit(client)

    def _take(self) -> aiosmtplib.SMTP | None:
        while self._idle:
            client = self._idle.pop()
            if client.is_connected:
                return client
        return None

    async def _connect(self) -> aiosmtplib.SMTP:
        s = self._settings
        client = aiosmtplib.SMTP(
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_username,
            password=s.smtp_password.get_secret_value() if s.smtp_password else None,
            start_tls=s.smtp_starttls,
            use_tls=s.smtp_use_tls,
            timeout=s.smtp_timeout,
        )
        await client.connect()
        self.connections += 1
        return client

    async def close(self) -> None:
        """Say goodbye on every kept connection (at shutdown)."""
        idle, self._idle = self._idle, []
        for client in idle:
            await _quit(client)


def _discard(client: aiosmtplib.SMTP | None) -> None:
    if client is not None:
        client.close()


async def _quit(client: aiosmtplib.SMTP) -> None:
    try:
        await client.quit()
    except (aiosmtplib.SMTPException, OSError):
        client.close()
