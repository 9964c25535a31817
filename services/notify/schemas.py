"""Stored documents and the internal HTTP API of notify; statuses as enums, never free strings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel


class NotificationKind(StrEnum):
    REGISTERED = "registered"
    REJECTED = "rejected"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


@dataclass(frozen=True)
class Recipient:
    """Who a notification reaches and how; `email` is personal data and is never logged."""

    user_id: str
    email: str | None
    lang: str


@dataclass(frozen=True)
class Notification:
    """One thing to tell one person, the same text on every channel.

    `key` names it for its whole life (the same appeal and kind give the same key), so a
    redelivered or repeated event cannot produce a second one.
    """

    id: str
    key: str
    kind: NotificationKind
    appeal_id: str
    number: str
    user_id: str
    lang: str
    title: str
    body: str
    created_at: datetime
    event_id: str


class FeedItem(BaseModel):
    id: str
    appeal_id: str
    number: str
    kind: NotificationKind
    title: str
    body: str
    created_at: datetime
    read: bool


class FeedPage(BaseModel):
    items: list[FeedItem]
    total: int
    unread: int
