"""Notify's delivery leases name their holder: an attempt that failed before sending (the store
recorded the delivery but its answer was lost) is taken back at once by the same process when the
event comes back, instead of after the lease; another process still waits the lease out, and a
delivery this process sent is never sent again by it (services/notify/delivery.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pymongo.errors import AutoReconnect

from libs.common.clock import system_clock
from libs.common.store import open_store
from services.notify.delivery import DELIVERIES, DeliveryEngine
from services.notify.schemas import ChannelName, Delivery
from tests.events import registered_email


class Smtp:
    name = ChannelName.EMAIL

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, delivery: Delivery) -> None:
        self.sent.append(delivery.id)


class AnswerLost:
    """A database whose deliveries collection stores the first insert, then raises as a store that
    died before answering does."""

    def __init__(self, db: Any) -> None:
        self._db = db
        self.lost = False

    def __getitem__(self, name: str) -> Any:
        collection, outer = self._db[name], self

        class Collection:
            def __getattr__(self, method: str) -> Any:
                return getattr(collection, method)

            async def insert_one(self, doc: dict[str, Any]) -> Any:
                result = await collection.insert_one(doc)
                if name == DELIVERIES and not outer.lost:
                    outer.lost = True
                    raise AutoReconnect("connection closed")
                return result

        return Collection()


async def test_an_attempt_that_failed_before_sending_is_taken_back_at_once_by_its_process() -> None:
    db = AnswerLost(open_store(None, "notify_leases").db)
    smtp = Smtp()
    engine = DeliveryEngine(db, {ChannelName.EMAIL: smtp}, system_clock, lease_seconds=600)  # type: ignore[arg-type]
    delivery = registered_email("a1")
    with pytest.raises(AutoReconnect):
        await engine.deliver(delivery)
    assert smtp.sent == []
    record = await db[DELIVERIES].find_one({"_id": delivery.id})
    assert record is not None and record["status"] == "pending"  # stored, leased to this engine

    # Another process must wait the lease out: this one may have been sending.
    other = DeliveryEngine(db, {ChannelName.EMAIL: Smtp()}, system_clock, lease_seconds=600)  # type: ignore[arg-type]
    assert not await other._claim(delivery, wait=False, mine=True)

    # The redelivered event: taken back at once (the lease is ten minutes), sent once, settled.
    await asyncio.wait_for(engine.deliver(delivery), timeout=10)
    assert smtp.sent == [delivery.id]
    record = await db[DELIVERIES].find_one({"_id": delivery.id})
    assert record is not None and record["status"] == "sent" and record["attempts"] == 2
    assert "lease_owner" not in record
    await asyncio.wait_for(engine.deliver(delivery), timeout=10)  # and once more: already sent
    assert smtp.sent == [delivery.id]


async def test_a_delivery_being_sent_is_not_taken_back_by_another_call_of_the_same_process() -> None:
    db = open_store(None, "notify_leases_busy").db
    accepted, release = asyncio.Event(), asyncio.Event()

    class SlowSmtp(Smtp):
        async def send(self, delivery: Delivery) -> None:
            self.sent.append(delivery.id)
            accepted.set()
            await release.wait()

    smtp = SlowSmtp()
    engine = DeliveryEngine(db, {ChannelName.EMAIL: smtp}, system_clock, lease_seconds=600)
    delivery = registered_email("a2")
    first = asyncio.create_task(engine.deliver(delivery))
    await asyncio.wait_for(accepted.wait(), timeout=10)
    first.cancel()  # a broker disconnect cancels the handler; the send goes on (shielded)
    with pytest.raises(asyncio.CancelledError):
        await first
    assert not await engine._claim(delivery, wait=False, mine=True)  # still being sent here
    release.set()
    await asyncio.wait_for(engine.deliver(delivery), timeout=10)  # the redelivered event
    assert smtp.sent == [delivery.id]
