"""The delivery log: every (notification or event) × channel × target is sent once in effect.

A delivery is recorded already claimed with a lease (one insert for all of an event's deliveries,
`channels.insert_new`; so two workers never send it at the same time), sent, and settled as sent
or failed; a redelivered event finds its record and claims it (or finds it settled). Statuses move
only as `schemas.DELIVERY_TRANSITIONS` says: every write is guarded by it. The feed has no record
here: its item, keyed by the notification, is its own record (one insert per event). A transient
failure (SMTP relay down, a webhook's 503, a push service's 5xx) is not the event's to retry: the
delivery is deferred in this log with its own exponential backoff (`retry_backoff_seconds`
doubling up to `retry_max_delay_seconds`) and the event is acknowledged once that is stored. The
scheduled loop sends deferred deliveries (quiet hours, backoff, an admin's re-queue) when their
`not_before` comes; a delivery still failing `retry_window_seconds` (24 h) after its first failure
is parked (`failed`) for an admin. An hour-long mail outage therefore needs no human: every
e-mail of that hour goes out after it.

A lease names its holder (`lease_owner`, one token per engine, so per process). A worker that
finds its own lease on a delivery it is not working on takes it back at once instead of waiting
for the lease to end: its earlier attempt failed before sending (the store died after recording
the delivery but before answering, and the event came back). One it sent but could not record
`sent` is recorded, never sent again. Another process's lease is still waited out: that process
may be sending.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import aiosmtplib
from pymongo import ASCENDING, DESCENDING
from pymongo.errors import ConnectionFailure

from libs.common.clock import Clock
from libs.common.logging import get_logger
from libs.common.store import Database, Document
from services.notify.channels import (
    Channel,
    FeedChannel,
    PermanentDeliveryError,
    TransientDeliveryError,
    insert_new,
)
from services.notify.schemas import ChannelName, Delivery, DeliveryStatus, delivery_sources
from services.notify.service import retry_delay

log = get_logger(__name__)

DELIVERIES = "deliveries"
_LEASE_POLL_SECONDS = 0.2
S = DeliveryStatus

Planned = tuple[Delivery, datetime | None]  # a delivery and when it may go (None: now)


class DeliveryFailed(Exception):
    """A channel failed in a way a retry may fix. Its text names no person and no address."""


class DeliveryEngine:
    """The delivery log and the channels behind it: records, claims, sends and settles every
    delivery once in effect (the module's docstring); `lease_seconds` bounds one send."""

    def __init__(
        self,
        db: Database,
        channels: Mapping[ChannelName, Channel],
        clock: Clock,
        *,
        lease_seconds: float = 30.0,
        retry_backoff_seconds: float = 30.0,
        retry_max_delay_seconds: float = 1800.0,
        retry_window_seconds: float = 24 * 3600.0,
    ) -> None:
        self._db = db
        self._log = db[DELIVERIES]
        self._channels = dict(channels)
        self._clock = clock
        self._lease = lease_seconds
        self._backoff = retry_backoff_seconds
        self._max_delay = retry_max_delay_seconds
        self._window = timedelta(seconds=retry_window_seconds)
        self._owner = secrets.token_hex(8)  # this engine's name on its leases
        self._working: set[str] = set()  # deliveries a call of this engine is handling now
        self._sending: set[str] = set()  # being sent or settled (outlives a cancelled call)
        self._sent: set[str] = set()  # accepted by the channel, `sent` not recorded (store away)

    def runs(self, channel: ChannelName) -> bool:
        """Whether this process has the channel (a channel off by settings is not built)."""
        return channel in self._channels

    async def ensure_indexes(self) -> None:
        """The scheduled loop's due query and the admin's list of failed deliveries."""
        await self._log.create_index([("status", ASCENDING), ("not_before", ASCENDING)])
        await self._log.create_index([("status", ASCENDING), ("failed_at", DESCENDING)])

    async def dispatch(self, planned: Sequence[Planned]) -> None:
        """Every delivery gets its chance even if an earlier one fails; then the first failure raises.

        The feed items are one write; the other deliveries are recorded in one write, already
        claimed by this worker (or waiting for their time), then sent one by one; those a
        redelivered event finds recorded are claimed, or left when settled. A transient channel
        failure does not raise: the delivery is deferred with backoff (stored) and the event is
        done. DeliveryFailed is left for a delivery another worker still holds; the store's
        errors (ConnectionFailure, ...) propagate."""
        feed = self._channels.get(ChannelName.FEED)
        items = [delivery for delivery, _ in planned if delivery.channel is ChannelName.FEED]
        if items and isinstance(feed, FeedChannel):
            await feed.write(items)
        others = [
            (d, wait) for d, wait in planned if d.channel is not ChannelName.FEED and self.runs(d.channel)
        ]
        ids = {delivery.id for delivery, _ in others} - self._working  # none of another call's
        self._working |= ids
        try:
            recorded = await self._record(others)
            failures: list[DeliveryFailed] = []
            for delivery, not_before in others:
                if not_before is not None:
                    continue  # recorded deferred (or found recorded): the scheduled loop sends it
                try:
                    mine = delivery.id in ids
                    if delivery.id in recorded or await self._claim(delivery, wait=True, mine=mine):
                        await self._send_to_the_end(delivery)
                except DeliveryFailed as exc:
                    failures.append(exc)
        finally:
            self._working -= ids
        if failures:
            raise failures[0]

    async def deliver(self, delivery: Delivery, not_before: datetime | None = None) -> None:
        """`dispatch` of one delivery (now, or deferred to `not_before`); raises as `dispatch`."""
        await self.dispatch([(delivery, not_before)])

    async def run_due(self, batch: int = 100) -> int:
        """Send the deferred deliveries whose time has come; returns how many were tried."""
        due = {"status": S.DEFERRED, "not_before": {"$lte": self._clock()}}
        docs = await self._log.find(due).sort("not_before", ASCENDING).limit(batch).to_list()
        tried = 0
        for doc in docs:
            delivery = Delivery.model_validate({**doc, "id": doc["_id"]})
            if not self.runs(delivery.channel):
                await self._settle_failed(delivery.id, "the channel is switched off", S.UNDELIVERABLE)
                continue
            if delivery.id in self._working or not await self._claim(delivery, wait=False, mine=False):
                continue
            tried += 1
            await self._send_to_the_end(delivery)  # a failure defers it again, or parks it
        return tried

    async def failed(self, limit: int, offset: int) -> tuple[list[Document], int]:
        """(a page of the failed and undeliverable deliveries, newest failure first; their total)."""
        query = {"status": {"$in": [S.FAILED, S.UNDELIVERABLE]}}
        cursor = self._log.find(query).sort([("failed_at", DESCENDING), ("_id", ASCENDING)])
        return await cursor.skip(offset).limit(limit).to_list(), await self._log.count_documents(query)

    async def requeue(self, delivery_id: str) -> bool:
        """An admin's retry of a failed or undeliverable delivery: the scheduled loop sends it next."""
        result = await self._log.update_one(
            {"_id": delivery_id, "status": {"$in": [S.FAILED, S.UNDELIVERABLE]}},
            {
                "$set": {"status": S.DEFERRED, "not_before": self._clock(), "attempts": 0},
                "$unset": {"lease_until": "", "lease_owner": "", "first_failed_at": ""},
            },
        )
        return result.matched_count == 1

    # -- internals ----------------------------------------------------------------------------

    async def _record(self, planned: Sequence[Planned]) -> set[str]:
        """Record the deliveries not recorded yet in one write: due now ones already claimed by
        this worker (status pending, a lease, attempt 1), the others deferred to their time.
        Returns the ids of those due now that it recorded (so claimed); the others were there."""
        if not planned:
            return set()
        now, wall = self._clock(), datetime.now(UTC)
        lease = wall + timedelta(seconds=self._lease)
        docs: list[dict[str, Any]] = []
        for delivery, not_before in planned:
            waits = not_before is not None
            docs.append(
                {
                    "_id": delivery.id,
                    **delivery.model_dump(mode="json", exclude={"id"}),
                    "status": S.DEFERRED if waits else S.PENDING,
                    "not_before": not_before,
                    "lease_until": None if waits else lease,
                    "lease_owner": None if waits else self._owner,
                    "attempts": 0 if waits else 1,
                    "created_at": now,
                }
            )
        # Those there already: a redelivered event's, or a concurrent worker's (the same record).
        there = await insert_new(self._log, docs)
        return {doc["_id"] for i, doc in enumerate(docs) if i not in there and doc["status"] == S.PENDING}

    async def _claim(self, delivery: Delivery, *, wait: bool, mine: bool) -> bool:
        """Take the delivery for this worker. False once it is sent, undeliverable or deferred.
        `mine`: the caller is the one call of this engine handling it, so a lease of this engine's
        own that is not being sent is left from a failed attempt and taken back at once (the
        module's docstring); one this engine sent is recorded `sent` instead."""
        if delivery.id in self._sent:
            await self._record_sent(delivery)
            return False
        give_up = time.monotonic() + self._lease
        while True:
            # Leases coordinate processes, so they use the wall clock; `not_before` is domain time.
            now = datetime.now(UTC)
            free: list[Document] = [{"lease_until": None}, {"lease_until": {"$lte": now}}]
            if mine and delivery.id not in self._sending:
                free.append({"lease_owner": self._owner})  # an attempt of ours that failed before sending
            claimed = await self._log.find_one_and_update(
                {
                    "_id": delivery.id,
                    "status": {"$in": delivery_sources(S.PENDING)},
                    "$and": [
                        {"$or": free},
                        {"$or": [{"not_before": None}, {"not_before": {"$lte": self._clock()}}]},
                    ],
                },
                {
                    "$set": {
                        "status": S.PENDING,
                        "lease_until": now + timedelta(seconds=self._lease),
                        "lease_owner": self._owner,
                    },
                    "$inc": {"attempts": 1},
                },
            )
            if claimed is not None:
                return True
            current = await self._log.find_one({"_id": delivery.id}) or {}
            if current.get("status") in (S.SENT, S.UNDELIVERABLE):
                log.info("delivery already settled", **_where(delivery))
                return False
            if current.get("status") == S.DEFERRED:
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
        self._sending.add(delivery.id)
        try:
            await self._send_and_settle(delivery)
        finally:
            self._sending.discard(delivery.id)

    async def _send_and_settle(self, delivery: Delivery) -> None:
        channel = self._channels[delivery.channel]
        try:
            # Bounded by the lease, so no second worker can take over while this send still runs.
            async with asyncio.timeout(self._lease * 0.8):
                await channel.send(delivery)
        except PermanentDeliveryError as exc:
            await self._settle_failed(delivery.id, str(exc), S.UNDELIVERABLE)
            log.warning("delivery impossible", error=str(exc), **_where(delivery))
            return
        except Exception as exc:
            await self._defer_after_failure(delivery, _describe(exc))
            return
        await self._record_sent(delivery)
        log.debug("delivered", **_where(delivery))

    async def _record_sent(self, delivery: Delivery) -> None:
        """Settle `sent` what the channel accepted, through a store outage (the chaos run's kill -9
        of the store sent an e-mail twice): retried until the lease ends, since after it another
        worker may take the delivery over. Raises ConnectionFailure when the store stays away."""
        give_up = time.monotonic() + self._lease
        self._sent.add(delivery.id)  # until it is recorded: never sent again by this process
        while True:
            try:
                await self._log.update_one(
                    {"_id": delivery.id, "status": {"$in": delivery_sources(S.SENT)}},
                    {
                        "$set": {"status": S.SENT, "sent_at": self._clock()},
                        "$unset": {"lease_until": "", "lease_owner": "", "error": ""},
                    },
                )
                self._sent.discard(delivery.id)
                return
            except ConnectionFailure as exc:
                if time.monotonic() > give_up:
                    raise
                log.warning("sent, the store did not answer: recording again", error=type(exc).__name__)
                await asyncio.sleep(_LEASE_POLL_SECONDS)

    async def _settle_failed(self, delivery_id: str, error: str, status: DeliveryStatus = S.FAILED) -> None:
        """Park the delivery for an admin: `failed` (its retry window is over) or `undeliverable`."""
        await self._log.update_one(
            {"_id": delivery_id, "status": {"$in": delivery_sources(status)}},
            {
                "$set": {"status": status, "error": error, "failed_at": self._clock()},
                "$unset": {"lease_until": "", "lease_owner": ""},
            },
        )

    async def _defer_after_failure(self, delivery: Delivery, error: str) -> None:
        """A transient failure: try again after the backoff, or park it once the window is over."""
        now = self._clock()
        doc = await self._log.find_one({"_id": delivery.id}) or {}
        attempts = int(doc.get("attempts", 1))
        first = doc.get("first_failed_at") or now
        if first.tzinfo is None:  # the store gives naive UTC back
            first = first.replace(tzinfo=UTC)
        not_before = now + retry_delay(attempts, self._backoff, self._max_delay)
        if not_before - first > self._window:
            await self._settle_failed(delivery.id, f"gave up after {attempts} attempts: {error}")
            log.error("delivery parked for an admin", attempts=attempts, error=error, **_where(delivery))
            return
        await self._log.update_one(
            {"_id": delivery.id, "status": {"$in": delivery_sources(S.DEFERRED)}},
            {
                "$set": {
                    "status": S.DEFERRED,
                    "not_before": not_before,
                    "error": error,
                    "first_failed_at": first,
                },
                "$unset": {"lease_until": "", "lease_owner": ""},
            },
        )
        log.warning(
            "delivery failed, deferred",
            error=error,
            attempts=attempts,
            retry_in_seconds=(not_before - now).total_seconds(),
            **_where(delivery),
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
