"""Use cases: remember recipients, turn events into notifications, deliver each once in effect."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import aiosmtplib
from pymongo import DESCENDING
from pymongo.errors import DuplicateKeyError

from libs.common.clock import Clock
from libs.common.events import AppealRejectedV1, AppealSubmittedV1, DeadlineArmedV1, Envelope, TimerKind
from libs.common.logging import get_logger
from libs.common.store import Database
from services.notify import service
from services.notify.channels import FEED, Channel, PermanentDeliveryError
from services.notify.schemas import DeliveryStatus, FeedItem, FeedPage, Notification, Recipient

log = get_logger(__name__)

RECIPIENTS = "recipients"
DELIVERIES = "deliveries"
_LEASE_POLL_SECONDS = 0.2


class RecipientUnknown(Exception):
    """The appeal's author is not known yet (events raced): the consumer retries later."""


class DeliveryFailed(Exception):
    """A channel failed in a way a retry may fix. Its text names no person and no address."""


class NotifyFlows:
    def __init__(
        self, db: Database, channels: Sequence[Channel], clock: Clock, *, lease_seconds: float = 30.0
    ) -> None:
        self._db = db
        self._channels = list(channels)
        self._clock = clock
        self._lease = lease_seconds

    async def ensure_indexes(self) -> None:
        await self._db[FEED].create_index([("user_id", 1), ("created_at", DESCENDING), ("_id", DESCENDING)])
        await self._db[FEED].create_index([("user_id", 1), ("read", 1)])

    async def remember_recipient(self, envelope: Envelope, submitted: AppealSubmittedV1) -> None:
        # An upsert keyed by the appeal: replaying appeal.submitted writes the same values again.
        await self._db[RECIPIENTS].update_one(
            {"_id": submitted.appeal_id},
            {
                "$set": {
                    "author_id": submitted.author_id,
                    "contact_email": submitted.contact_email,
                    "number": submitted.number,
                    "lang": service.pick_lang(submitted.lang),
                    "event_id": envelope.id,
                },
                "$setOnInsert": {"created_at": self._clock()},
            },
            upsert=True,
        )

    async def notify_registered(self, envelope: Envelope, armed: DeadlineArmedV1) -> None:
        if armed.timer is not TimerKind.ANSWER:
            return
        recipient = await self._recipient(armed.appeal_id)
        await self._notify(
            recipient, service.registered(recipient, armed, event_id=envelope.id, now=self._clock())
        )

    async def notify_rejected(self, envelope: Envelope, rejected: AppealRejectedV1) -> None:
        recipient = await self._recipient(rejected.appeal_id)
        await self._notify(
            recipient, service.rejected(recipient, rejected, event_id=envelope.id, now=self._clock())
        )

    async def feed_page(self, user_id: str, *, limit: int, offset: int) -> FeedPage:
        feed = self._db[FEED]
        cursor = feed.find({"user_id": user_id}).sort([("created_at", DESCENDING), ("_id", DESCENDING)])
        docs = await cursor.skip(offset).limit(limit).to_list()
        return FeedPage(
            items=[FeedItem.model_validate({**doc, "id": doc["_id"]}) for doc in docs],
            total=await feed.count_documents({"user_id": user_id}),
            unread=await feed.count_documents({"user_id": user_id, "read": False}),
        )

    async def mark_read(self, user_id: str, notification_id: str) -> bool:
        """False if the user has no such notification (someone else's counts as none)."""
        result = await self._db[FEED].update_one(
            {"_id": notification_id, "user_id": user_id},
            {"$set": {"read": True, "read_at": self._clock()}},
        )
        return result.matched_count == 1

    async def _recipient(self, appeal_id: str) -> Recipient:
        doc = await self._db[RECIPIENTS].find_one({"_id": appeal_id})
        if doc is None:
            raise RecipientUnknown(f"no recipient for appeal {appeal_id} yet (appeal.submitted not seen)")
        return Recipient(user_id=doc["author_id"], email=doc.get("contact_email"), lang=doc.get("lang", "ru"))

    async def _notify(self, recipient: Recipient, notification: Notification) -> None:
        # Every channel gets its chance even if an earlier one fails; the retry skips those sent.
        failures: list[DeliveryFailed] = []
        for channel in self._channels:
            if not channel.reaches(recipient):
                continue
            try:
                await self._deliver(channel, recipient, notification)
            except DeliveryFailed as exc:
                failures.append(exc)
        if failures:
            raise failures[0]

    async def _deliver(self, channel: Channel, recipient: Recipient, notification: Notification) -> None:
        delivery_id = service.delivery_id(notification.key, channel.name, recipient.user_id)
        where = {"key": notification.key, "channel": channel.name, "appeal_id": notification.appeal_id}
        if not await self._claim(delivery_id, where):
            log.info("notification already settled", **where)
            return
        deliveries = self._db[DELIVERIES]
        try:
            # Bounded by the lease, so no second worker can take over while this send still runs.
            async with asyncio.timeout(self._lease * 0.8):
                await channel.send(recipient, notification)
        except PermanentDeliveryError as exc:
            await self._settle(delivery_id, DeliveryStatus.FAILED, error=str(exc), permanent=True)
            log.warning("notification undeliverable", error=str(exc), **where)
            return
        except Exception as exc:
            error = _describe(exc)
            await self._settle(delivery_id, DeliveryStatus.FAILED, error=error)
            log.warning("notification delivery failed", error=error, **where)
            raise DeliveryFailed(f"{channel.name} delivery of {notification.key} failed: {error}") from None
        await deliveries.update_one(
            {"_id": delivery_id},
            {
                "$set": {"status": DeliveryStatus.SENT, "sent_at": self._clock()},
                "$unset": {"lease_until": ""},
            },
        )
        log.info("notification delivered", **where)

    async def _claim(self, delivery_id: str, where: dict[str, str]) -> bool:
        """Take the delivery for this worker. False once it is sent (or can never be sent)."""
        deliveries = self._db[DELIVERIES]
        # DuplicateKeyError: a concurrent worker created it first.
        with contextlib.suppress(DuplicateKeyError):
            await deliveries.update_one(
                {"_id": delivery_id},
                {
                    "$setOnInsert": {
                        **where,
                        "status": DeliveryStatus.PENDING,
                        "attempts": 0,
                        "created_at": self._clock(),
                    }
                },
                upsert=True,
            )
        give_up = time.monotonic() + self._lease
        while True:
            # Leases coordinate processes, so they use the wall clock, not the injected domain clock.
            now = datetime.now(UTC)
            claimed = await deliveries.find_one_and_update(
                {
                    "_id": delivery_id,
                    "status": {"$ne": DeliveryStatus.SENT},
                    "permanent": {"$ne": True},
                    "$or": [{"lease_until": None}, {"lease_until": {"$lte": now}}],
                },
                {
                    "$set": {
                        "status": DeliveryStatus.PENDING,
                        "lease_until": now + timedelta(seconds=self._lease),
                    },
                    "$inc": {"attempts": 1},
                },
            )
            if claimed is not None:
                return True
            current = await deliveries.find_one({"_id": delivery_id})
            if current is not None and (current["status"] == DeliveryStatus.SENT or current.get("permanent")):
                return False
            # Another worker is sending right now: wait for its outcome instead of spending retries.
            if time.monotonic() > give_up:
                raise DeliveryFailed(
                    f"{where['channel']} delivery of {where['key']} is held by another worker"
                )
            await asyncio.sleep(_LEASE_POLL_SECONDS)

    async def _settle(
        self, delivery_id: str, status: DeliveryStatus, *, error: str, permanent: bool = False
    ) -> None:
        await self._db[DELIVERIES].update_one(
            {"_id": delivery_id},
            {
                "$set": {
                    "status": status,
                    "error": error,
                    "permanent": permanent,
                    "failed_at": self._clock(),
                },
                "$unset": {"lease_until": ""},
            },
        )


def _describe(exc: BaseException) -> str:
    """The error's type and SMTP code only: relay messages may quote the address."""
    if isinstance(exc, TimeoutError):
        return "TimeoutError"
    code = getattr(exc, "code", None) if isinstance(exc, aiosmtplib.SMTPException) else None
    return f"{type(exc).__name__} ({code})" if code else type(exc).__name__
