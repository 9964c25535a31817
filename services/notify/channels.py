"""Delivery channels behind one small interface: the feed and e-mail here, push and webhooks
in their own modules. Which ones run is chosen at start (NOTIFY_CHANNELS)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Protocol

import aiosmtplib

from libs.common.store import Database
from services.notify.rendering import InvalidAddress, build_message, parse_address, render_email
from services.notify.schemas import ChannelName, Delivery, Notification
from services.notify.settings import NotifySettings

FEED = "feed"
PUSH_SUBSCRIPTIONS = "push_subscriptions"
WEBHOOKS = "webhooks"

MailTransport = Callable[[EmailMessage], Awaitable[None]]


class PermanentDeliveryError(Exception):
    """Retrying cannot help (a malformed or refused address, a gone subscription): record, move on."""


class TransientDeliveryError(Exception):
    """A provider failed in a way a retry may fix; the text is safe to log (no address, no body)."""


class Channel(Protocol):
    name: ChannelName

    async def send(self, delivery: Delivery) -> None: ...


class FeedChannel:
    """The in-app feed: one document per notification, created once whatever the retries."""

    name = ChannelName.FEED

    def __init__(self, db: Database) -> None:
        self._db = db

    async def send(self, delivery: Delivery) -> None:
        note = Notification.model_validate(delivery.content)
        item: dict[str, object] = {
            "key": note.key,
            "owner": note.owner,
            "appeal_id": note.appeal_id,
            "number": note.number,
            "kind": str(note.kind),
            "title": note.title,
            "body": note.body,
            "detail": note.detail,
            "urgent": note.urgent,
            "created_at": note.created_at,
            "read_by": [],
            "event_id": note.event_id,
        }
        await self._db[FEED].update_one({"_id": note.id}, {"$setOnInsert": item}, upsert=True)


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
    """Hands a message to the configured SMTP relay (Mailpit, the dev sink, or production)."""

    def __init__(self, settings: NotifySettings) -> None:
        self._settings = settings

    async def __call__(self, message: EmailMessage) -> None:
        s = self._settings
        try:
            await aiosmtplib.send(
                message,
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_username,
                password=s.smtp_password.get_secret_value() if s.smtp_password else None,
                start_tls=s.smtp_starttls,
                use_tls=s.smtp_use_tls,
                timeout=s.smtp_timeout,
            )
        except aiosmtplib.SMTPNotSupported:
            # A non-ASCII local part and a relay without SMTPUTF8: retrying cannot help. The doors
            # refuse such addresses unless APPEALS_MAIL_SMTPUTF8 says the relay supports it.
            raise PermanentDeliveryError("the mail relay does not support SMTPUTF8") from None
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [refused.code for refused in exc.recipients]
            if codes and all(code >= 500 for code in codes):
                raise PermanentDeliveryError(f"recipient refused by the relay ({codes[0]})") from None
            raise
