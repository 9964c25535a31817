"""Nothing is lost or doubled under faults and bad input: the suite's short chaos run.

One stack of the six services (its own namespace, its own store process and SMTP sink it can
stop), a small stream of appeals per fault, in order: the SMTP server down for longer than
notify's retry budget, kill -9 of every service mid-stream (intake included: the client retries
with the same Idempotency-Key; polls with a poll open, voted on and closing across the kill) and
of the store process itself, poison messages into every queue, a RabbitMQ restart (the shared
local broker: always started again), and a last look at every appeal. Nothing is excused: every
store is durable. The full run, with every fault and the table, is `make chaos` (bench/chaos/,
harness in devstack/chaos/, docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator

import pytest
from pymongo import AsyncMongoClient

from devstack.chaos.plan import SERVICES, Plan, Row, table
from devstack.chaos.run import ChaosRun
from devstack.docstore import DocStore
from devstack.stack import free_port
from libs.common.clock import system_clock
from libs.common.store import open_store
from services.notify.delivery import DeliveryEngine
from services.notify.schemas import ChannelName, Delivery
from tests.events import registered_email

pytestmark = pytest.mark.e2e

PLAN = Plan(
    before=3,
    after=2,
    rate=2.0,
    broker_outage=2.0,
    smtp_outage=5.0,  # longer than the retry budget (0.2 s doubling, 5 attempts: about 3 s)
    settle_timeout=45.0,
    poll_close_in=8.0,
    faults=(),
)


@pytest.fixture(scope="module")
async def chaos(tmp_path_factory: pytest.TempPathFactory, rabbit_url: str) -> AsyncIterator[ChaosRun]:
    # Its own store (MONGO_URL when given): the store process is one of the things it kills.
    async with ChaosRun(
        PLAN, tmp_path_factory.mktemp("chaos"), rabbit_url, os.environ.get("MONGO_URL")
    ) as run:
        yield run


def judge(row: Row) -> None:
    """Every accepted appeal there, nothing doubled, nothing else wrong."""
    print(table([row]))
    if row.skipped:
        pytest.skip(row.skipped)
    assert not row.problems, "\n".join(row.problems)
    assert row.lost == 0
    assert row.accepted == row.sent, row.notes
    assert row.duplicated == 0


async def test_smtp_outage_longer_than_the_retries(chaos: ChaosRun) -> None:
    row = await chaos.fault("smtp")
    judge(row)
    assert row.recovery is not None


@pytest.mark.parametrize("process", ["routing", "deadlines", "notify", "media", "intake", "polls", "store"])
async def test_kill_9_mid_stream(chaos: ChaosRun, process: str) -> None:
    judge(await chaos.fault(f"kill:{process}"))


async def test_poison_messages_are_parked_and_every_service_keeps_serving(chaos: ChaosRun) -> None:
    row = await chaos.poison()
    judge(row)
    assert row.dead_lettered == 3 * len(
        SERVICES
    )  # 3 per service, each with its reason (checked in chaos.poison)


async def test_rabbitmq_restart_mid_stream(chaos: ChaosRun) -> None:
    judge(await chaos.fault("broker"))


async def test_every_appeal_still_there_once_at_the_end(chaos: ChaosRun) -> None:
    judge(await chaos.final_check())


class _SlowQuitSmtp:
    """An SMTP channel whose server has accepted the message and is still closing the session."""

    name = ChannelName.EMAIL

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.accepted = asyncio.Event()

    async def send(self, delivery: Delivery) -> None:
        self.sent.append(delivery.id)
        self.accepted.set()
        await asyncio.sleep(0.3)


async def test_a_send_cut_short_by_a_broker_disconnect_is_not_sent_again() -> None:
    """Regression test of the duplicate e-mail a RabbitMQ restart caused (no broker needed).

    When the broker connection drops, aiormq cancels every in-flight consumer task. A delivery
    cancelled after the SMTP server accepted the message must still be settled `sent`, so the
    redelivered event finds it sent and sends nothing."""
    smtp = _SlowQuitSmtp()
    engine = DeliveryEngine(
        open_store(None, "chaos_repro").db, {ChannelName.EMAIL: smtp}, system_clock, lease_seconds=1.0
    )
    delivery = registered_email("a1")
    first = asyncio.create_task(engine.deliver(delivery))
    await asyncio.wait_for(smtp.accepted.wait(), timeout=10)
    first.cancel()  # what aiormq's reject_all does to the handler when the connection closes
    with contextlib.suppress(asyncio.CancelledError):
        await first
    await asyncio.wait_for(engine.deliver(delivery), timeout=10)  # the redelivered event
    assert smtp.sent == [delivery.id]


class _StoreKillingSmtp:
    """An SMTP channel whose server accepts the message, and then the store process dies."""

    name = ChannelName.EMAIL

    def __init__(self, store: DocStore) -> None:
        self.store = store
        self.sent: list[str] = []
        self.restarted: asyncio.Task[None] | None = None

    async def send(self, delivery: Delivery) -> None:
        self.sent.append(delivery.id)
        if self.restarted is None:
            await asyncio.to_thread(self.store.kill)
            self.restarted = asyncio.create_task(asyncio.to_thread(self.store.start))


async def test_a_send_whose_store_dies_before_it_is_recorded_is_not_sent_again(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Regression test of the duplicate e-mail the chaos run's kill -9 of the store caused: the
    server accepted the message, the write recording it `sent` met a dead store; the engine must
    record it once the store is back, so the redelivered event sends nothing."""
    store = DocStore(tmp_path_factory.mktemp("store-kill") / "store.sqlite", free_port())
    store.start()
    client: AsyncMongoClient[dict] = AsyncMongoClient(store.url, serverSelectionTimeoutMS=30_000)
    smtp = _StoreKillingSmtp(store)
    try:
        engine = DeliveryEngine(client["chaos_store_kill"], {ChannelName.EMAIL: smtp}, system_clock)
        delivery = registered_email("a2")
        await asyncio.wait_for(engine.deliver(delivery), timeout=60)
        assert smtp.restarted is not None
        await smtp.restarted
        record = await client["chaos_store_kill"]["deliveries"].find_one({"_id": delivery.id})
        assert record is not None and record["status"] == "sent"
        await asyncio.wait_for(engine.deliver(delivery), timeout=30)  # the redelivered event
        assert smtp.sent == [delivery.id]
    finally:
        if smtp.restarted is not None:
            await smtp.restarted
        await client.close()
        store.stop()
