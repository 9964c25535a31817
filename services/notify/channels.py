"""Delivery channels behind one small interface; push and webhooks will be two more classes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Protocol

import aiosmtplib

from libs.common.store import Database
from services.notify.rendering import InvalidAddress, build_message, parse_address, render_email
from services.notify.schemas import Notification, Recipient
from services.notify.settings import NotifySettings

FEED = "feed"

MailTransport = Callable[[EmailMessage], Awaitable[None]]


class PermanentDeliveryError(Exception):
    """Retrying cannot help (a malformed or refused address): record it and move on."""


class Channel(Protocol):
    name: str

    def reaches(self, recipient: Recipient) -> bool: ...

    async def send(self, recipient: Recipient, notification: Notification) -> None: ...


class FeedChannel:
    """The in-app feed: one document per notification, created once whatever the retries."""

    name = "feed"

    def __init__(self, db: Database) -> None:
        self._db = db

    def reaches(self, recipient: Recipient) -> bool:
        return True

    async def send(self, recipient: Recipient, notification: Notification) -> None:
        item = {
            "key": notification.key,
            "user_id": recipient.user_id,
            "appeal_id": notification.appeal_id,
            "number": notification.number,
            "kind": str(notification.kind),
            "title": notification.title,
            "body": notification.body,
            "created_at": notification.created_at,
            "read": False,
            "event_id": notification.event_id,
        }
        await self._db[FEED].update_one({"_id": notification.id}, {"$setOnInsert": item}, upsert=True)


class EmailChannel:
    name = "email"

    def __init__(self, mail_from: str, transport: MailTransport) -> None:
        self._from = mail_from
        self._domain = parseaddr(mail_from)[1].rpartition("@")[2] or "appeals.local"
        self._transport = transport

    def reaches(self, recipient: Recipient) -> bool:
        return bool(recipient.email)

    async def send(self, recipient: Recipient, notification: Notification) -> None:
        try:
            to = parse_address(recipient.email or "")
        except InvalidAddress as exc:
            raise PermanentDeliveryError(str(exc)) from None
        message = build_message(
            render_email(notification),
            sender=self._from,
            to=to,
            message_id=f"<{notification.id}@{self._domain}>",
            notification=notification,
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
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [refused.code for refused in exc.recipients]
            if codes and all(code >= 500 for code in codes):
                raise PermanentDeliveryError(f"recipient refused by the relay ({codes[0]})") from None
            raise
