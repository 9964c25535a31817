"""Stored documents and the internal HTTP API of notify; statuses as enums, never free strings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from libs.common.contracts.notify import WebhookScope


class ChannelName(StrEnum):
    FEED = "feed"
    EMAIL = "email"
    PUSH = "push"
    WEBHOOK = "webhook"


class NotificationKind(StrEnum):
    # To the citizen who wrote the appeal.
    REGISTERED = "registered"
    REJECTED = "rejected"
    TRANSFERRED = "transferred"
    CONTROL_CENTRE = "control_centre"  # nobody would take it: the regional control centre decides
    TAKEN = "taken"
    CLARIFICATION_REQUESTED = "clarification_requested"
    ANSWERED = "answered"
    REREVIEW = "rereview"
    CLOSED = "closed"
    # To the organisation's operators.
    NEW_APPEAL = "new_appeal"
    CLARIFIED = "clarified"
    REREVIEW_TASK = "rereview_task"
    DUE_SOON = "due_soon"
    # To the organisation's supervisor.
    OVERDUE = "overdue"
    # Polls (services/notify/polls.py): to residents who opted in for the area, to the organisation.
    POLL_OPENED = "poll_opened"
    POLL_RESULTS = "poll_results"
    POLL_CLOSED = "poll_closed"
    POLL_CANCELLED = "poll_cancelled"


class AudienceKind(StrEnum):
    CITIZEN = "citizen"
    OPERATORS = "operators"
    SUPERVISOR = "supervisor"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DEFERRED = "deferred"  # waits for `not_before` (quiet hours, a backoff, an admin's retry)
    SENT = "sent"
    FAILED = "failed"


@dataclass(frozen=True)
class Recipient:
    """The author of an appeal and how to reach them; `email` is personal data, never logged."""

    user_id: str
    email: str | None
    lang: str


class Notification(BaseModel):
    """One thing to tell one audience, the same text on every channel.

    `key` names it for its whole life, so a redelivered or repeated event cannot make a second one.
    """

    model_config = ConfigDict(frozen=True)

    id: str
    key: str
    kind: NotificationKind
    audience: AudienceKind
    owner: str  # whose feed: "user:<id>" or "org:<id>"
    appeal_id: str
    number: str
    lang: str
    title: str
    body: str
    detail: str | None = None  # the answer or the question, quoted as written
    urgent: bool = False
    created_at: datetime
    event_id: str


class Delivery(BaseModel):
    """One notification (or event, for webhooks) to one target over one channel.

    Stored whole in the delivery log, so a deferred or re-queued delivery can be sent later.
    `target` may hold personal data (an address): it is never logged nor shown.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    key: str
    channel: ChannelName
    target_id: str
    target: dict[str, Any]
    appeal_id: str
    event_type: str
    kind: str
    urgent: bool = False
    content: dict[str, Any]


class FeedItem(BaseModel):
    id: str
    appeal_id: str
    number: str
    kind: NotificationKind
    title: str
    body: str
    detail: str | None = None
    urgent: bool = False
    for_organization: bool = False
    created_at: datetime
    read: bool


class FeedPage(BaseModel):
    items: list[FeedItem]
    total: int
    unread: int


class PushSubscriptionView(BaseModel):
    id: str
    endpoint_origin: str
    created_at: datetime


class VapidKey(BaseModel):
    public_key: str  # base64url of the uncompressed P-256 point: the browser's applicationServerKey


class WebhookView(BaseModel):
    id: str
    url: str
    scope: WebhookScope
    org_id: str | None
    events: list[str]
    created_by: str
    created_at: datetime


class WebhookCreated(WebhookView):
    secret: str  # shown once: the receiver checks signatures with it


class DeadLetter(BaseModel):
    """A delivery that failed, without personal data: the target is named by channel and id only."""

    id: str
    channel: ChannelName
    kind: str
    event_type: str
    appeal_id: str
    target: str
    status: DeliveryStatus
    permanent: bool
    attempts: int
    error: str | None
    created_at: datetime
    failed_at: datetime | None = None


class DeadLetterPage(BaseModel):
    items: list[DeadLetter]
    total: int
