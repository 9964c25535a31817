"""The delivery log: every (notification or event) × channel × target is sent once in effect.

A delivery is recorded before it is sent, claimed with a lease (so two workers never send it at
the same time), and settled as sent or failed. A transient failure raises DeliveryFailed, so the
event consumer retries the event with backoff and finally dead-letters it; the retry skips
whatever was already sent. A deferred delivery (quiet hours, an admin's re-queue) waits for its
`not_before` and is sent by the scheduled loop, which retries it with backoff on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import aiosmtplib
from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

from libs.common.clock import Clock
from libs.common.logging import get_logger
from libs.common.store import Database, Document
from services.notify.channels import Channel, PermanentDeliveryError, TransientDeliveryError
from services.notify.schemas import ChannelName, Delivery, DeliveryStatus
from services.notify.service import retry_delay

log = get_logger(__name__)

DELIVERIES = "deliveries"
_LEASE_POLL_SECONDS = 0.2

Planned = tuple[Delivery, datetime | None]  # a delivery and when it may go (None: now)


class DeliveryFailed(Exception):
    """A channel failed in a way a retry may fix. Its text names no person and no address."""


class DeliveryEngine:
    def __init__(
        self,
        db: Database,
        channels: Mapping[ChannelName, Channel],
        clock: Clock,
        *,
        lease_seconds: float = 30.0,
        max_attempts: int = 5,
        retry_backoff_seconds: float = 0.5,
    ) -> None:
        self._db = db
        self._log = db[DELIVERIES]
        self._channels = dict(channels)
        self._clock = clock
        self._lease = lease_seconds
        self._max_attempts = max_attempts
        self._backoff = retry_backoff_seconds

    def runs(self, channel: ChannelName) -> bool:
        return channel in self._channels

    async def ensure_indexes(self) -> None:
        await self._log.create_index([("status", ASCENDING), ("not_before", ASCENDING)])
        await self._log.create_index([("status", ASCENDING), ("failed_at", DESCENDING)])

    async def dispatch(self, planned: Sequence[Planned]) -> None:
        """Every delivery gets its chance even if an earlier one fails; then the first failure raises."""
        failures: list[DeliveryFailed] = []
        for delivery, not_before in planned:
            if not self.runs(delivery.channel):
                continue
            try:
                await self.deliver(delivery, not_before)
            except DeliveryFailed as exc:
                failures.append(exc)
        if failures:
            raise failures[0]

    async def deliver(self, delivery: Delivery, not_before: datetime | None = None) -> None:
        await self._record(delivery, not_before)
        if await self._claim(delivery, wait=True):
            await self._send_to_the_end(delivery)

    async def run_due(self, batch: int = 100) -> int:
        """Send the deferred deliveries whose time has come; returns how many were tried."""
        due = {"status": DeliveryStatus.DEFERRED, "not_before": {"$lte": self._clock()}}
        docs = await self._log.find(due).sort("not_before", ASCENDING).limit(batch).to_list()
        tried = 0
        for doc in docs:
            delivery = Delivery.model_validate({**doc, "id": doc["_id"]})
            if not self.runs(delivery.channel):
                await self._settle_failed(delivery.id, "the channel is switched off", permanent=True)
                continue
            if not await self._claim(delivery, wait=False):
                continue
            tried += 1
            try:
                await self._send_to_the_end(delivery)
            except DeliveryFailed:
                await self._reschedule(delivery.id)
        return tried

    async def failed(self, limit: int, offset: int) -> tuple[list[Document], int]:
        query = {"status": DeliveryStatus.FAILED}
        cursor = self._log.find(query).sort([("failed_at", DESCENDING), ("_id", ASCENDING)])
        return await cursor.skip(offset).limit(limit).to_list(), await self._log.count_documents(query)

    async def requeue(self, delivery_id: str) -> bool:
        """An admin's retry of a failed delivery: the scheduled loop sends it next."""
        result = await self._log.update_one(
            {"_id": delivery_id, "status": DeliveryStatus.FAILED},
            {
                "$set": {
                    "status": DeliveryStatus.DEFERRED,
                    "not_before": self._clock(),
                    "permanent": False,
                    "attempts": 0,
                },
                "$unset": {"lease_until": ""},
            },
        )
        return result.matched_count == 1

    # -- internals ----------------------------------------------------------------------------

    async def _record(self, delivery: Delivery, not_before: datetime | None) -> None:
        doc: dict[str, Any] = {
            **delivery.model_dump(mode="json", exclude={"id"}),
            "status": DeliveryStatus.DEFERRED if not_before else DeliveryStatus.PENDING,
            "not_before": not_before,
            "attempts": 0,
            "created_at": self._clock(),
        }
        # DuplicateKeyError: a concurrent worker recorded it first; the record is the same.
        with contextlib.suppress(DuplicateKeyError):
            await self._log.update_one({"_id": delivery.id}, {"$setOnInsert": doc}, upsert=True)

    async def _claim(self, delivery: Delivery, *, wait: bool) -> bool:
        """Take the delivery for this worker. False once it is sent, undeliverable or deferred."""
        give_up = time.monotonic() + self._lease
        while True:
            # Leases coordinate processes, so they use the wall clock; `not_before` is domain time.
            now = datetime.now(UTC)
            claimed = await self._log.find_one_and_update(
                {
                    "_id": delivery.id,
                    "status": {"$ne": DeliveryStatus.SENT},
                    "permanent": {"$ne": True},
                    "$and": [
                        {"$or": [{"lease_until": None}, {"lease_until": {"$lte": now}}]},
                        {"$or": [{"not_before": None}, {"not_before": {"$lte": self._clock()}}]},
                    ],
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
            current = await self._log.find_one({"_id": delivery.id}) or {}
            if current.get("status") == DeliveryStatus.SENT or current.get("permanent"):
                log.info("delivery already settled", **_where(delivery))
                return False
            if current.get("status") == DeliveryStatus.DEFERRED:
                return False  # its time has not come: the scheduled loop sends it
            if not wait:
                return False
            # Another worker is sending right now: wait for its outcome instead of spending retries.
            if time.monotonic() > give_up:
                raise DeliveryFailed(
                    f"{delivery.channel} delivery of {delivery.key} is held by another worker"
                )
            await asyncio.sleep(_LEASE_POLL_SECONDS)

    async def _send_to_the_end(self, delivery: Delivery) -> None:
        """Send and settle, even if the handler awaiting it is cancelled meanwhile.

        A broker disconnect cancels in-flight handlers; a send the server already accepted must
        still be recorded `sent`, or the redelivered event would send it a second time."""
        await asyncio.shield(self._send(delivery))

    async def _send(self, delivery: Delivery) -> None:
        channel = self._channels[delivery.channel]
        try:
            # Bounded by the lease, so no second worker can take over while this send still runs.
            async with asyncio.timeout(self._lease * 0.8):
                await channel.send(delivery)
        except PermanentDeliveryError as exc:
            await self._settle_failed(delivery.id, str(exc), permanent=True)
            log.warning("delivery impossible", error=str(exc), **_where(delivery))
            return
        except Exception as exc:
            error = _describe(exc)
            await self._settle_failed(delivery.id, error)
            log.warning("delivery failed", error=error, **_where(delivery))
            raise DeliveryFailed(f"{delivery.channel} delivery of {delivery.key} failed: {error}") from None
        await self._log.update_one(
            {"_id": delivery.id},
            {
                "$set": {"status": DeliveryStatus.SENT, "sent_at": self._clock()},
                "$unset": {"lease_until": "", "error": ""},
            },
        )
        log.info("delivered", **_where(delivery))

    async def _settle_failed(self, delivery_id: str, error: str, *, permanent: bool = False) -> None:
        await self._log.update_one(
            {"_id": delivery_id},
            {
                "$set": {
                    "status": DeliveryStatus.FAILED,
                    "error": error,
                    "permanent": permanent,
                    "failed_at": self._clock(),
                },
                "$unset": {"lease_until": ""},
            },
        )

    async def _reschedule(self, delivery_id: str) -> None:
        doc = await self._log.find_one({"_id": delivery_id}) or {}
        attempts = int(doc.get("attempts", 1))
        if attempts >= self._max_attempts:
            await self._log.update_one(
                {"_id": delivery_id},
                {"$set": {"error": f"gave up after {attempts} attempts: {doc.get('error')}"}},
            )
            return
        await self._log.update_one(
            {"_id": delivery_id, "status": DeliveryStatus.FAILED},
            {
                "$set": {
                    "status": DeliveryStatus.DEFERRED,
                    "not_before": self._clock() + retry_delay(attempts, self._backoff),
                }
            },
        )


def _where(delivery: Delivery) -> dict[str, str]:
    return {"key": delivery.key, "channel": str(delivery.channel), "appeal_id": delivery.appeal_id}


def _describe(exc: BaseException) -> str:
    """The error's type and code only: provider messages may quote the address."""
    if isinstance(exc, TransientDeliveryError):
        return str(exc)
    if isinstance(exc, TimeoutError):
        return "TimeoutError"
    code = getattr(exc, "code", None) if isinstance(exc, aiosmtplib.SMTPException) else None
    return f"{type(exc).__name__} ({code})" if code else type(exc).__name__
