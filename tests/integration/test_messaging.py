"""The shared consumer and outbox against the real RabbitMQ."""

from datetime import UTC, datetime

import aio_pika
import pytest

from libs.common.events import AppealRejectedV1, Envelope, EventType, new_event
from libs.common.messaging import EventBus, EventConsumer, create_broker
from libs.common.outbox import OutboxRelay, outbox_entry
from libs.common.settings import QueueKind
from libs.common.store import open_store
from libs.common.topology import Topology
from tests.infra import eventually

pytestmark = pytest.mark.integration


def rejected(appeal_id: str = "a1") -> AppealRejectedV1:
    return AppealRejectedV1(
        appeal_id=appeal_id, number="2026-000001", reason_code="c", reason="r", rejected_at=datetime.now(UTC)
    )


async def start_consumer(
    rabbit_url: str, namespace: str, handler, max_attempts: int = 3, kind=QueueKind.CLASSIC
):  # type: ignore[no-untyped-def]
    broker = create_broker(rabbit_url, prefetch=8)
    topology = Topology(namespace, kind)
    consumer = EventConsumer(
        broker,
        topology,
        "svc",
        {EventType.APPEAL_REJECTED: handler},
        max_attempts=max_attempts,
        retry_backoff_seconds=0.05,
    )
    await broker.connect()
    await consumer.declare()
    await broker.start()
    return broker, topology, consumer


async def dead_letters(rabbit_url: str, queue_name: str) -> list[aio_pika.abc.AbstractIncomingMessage]:
    connection = await aio_pika.connect(rabbit_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(queue_name)
        found = []
        while (message := await queue.get(fail=False, no_ack=True)) is not None:
            found.append(message)
        return found


async def test_transient_failure_is_retried_and_handled_once(rabbit_url: str, namespace: str) -> None:
    calls: list[str] = []
    failures = {"left": 1}

    async def flaky(envelope: Envelope, payload: AppealRejectedV1) -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("store briefly unavailable")
        calls.append(envelope.id)

    broker, topology, _ = await start_consumer(rabbit_url, namespace, flaky)
    try:
        event = new_event(EventType.APPEAL_REJECTED, rejected(), source="t", subject="a1", correlation_id="c")
        await EventBus(broker, topology).publish(event)

        async def handled() -> list[str]:
            return calls

        assert await eventually(handled, timeout=10) == [event.id]
    finally:
        await broker.stop()


@pytest.mark.parametrize("kind", [QueueKind.CLASSIC, QueueKind.QUORUM])
async def test_always_failing_handler_ends_in_dead_letter_queue_with_reason(
    rabbit_url: str, namespace: str, kind: QueueKind
) -> None:
    attempts: list[int] = []

    async def broken(envelope: Envelope, payload: AppealRejectedV1) -> None:
        attempts.append(1)
        raise ValueError("this handler always fails")

    broker, topology, consumer = await start_consumer(
        rabbit_url, namespace, broken, max_attempts=3, kind=kind
    )
    try:
        await EventBus(broker, topology).publish(
            new_event(EventType.APPEAL_REJECTED, rejected(), source="t", subject="a1", correlation_id="c")
        )

        async def parked() -> list:
            return await dead_letters(rabbit_url, consumer.dead_letter_queue.name)

        messages = await eventually(parked, timeout=15)
        assert len(messages) == 1
        reason = messages[0].headers["x-dead-letter-reason"]
        assert "gave up after 3 attempts" in reason
        assert "this handler always fails" in reason
        assert len(attempts) == 3
    finally:
        await broker.stop()


async def test_outbox_relay_publishes_pending_events_then_clears_them(
    rabbit_url: str, namespace: str
) -> None:
    received: list[str] = []

    async def record(envelope: Envelope, payload: AppealRejectedV1) -> None:
        received.append(envelope.id)

    broker, topology, _ = await start_consumer(rabbit_url, namespace, record)
    try:
        db = open_store(None, namespace).db
        relay = OutboxRelay(db, ["things"], EventBus(broker, topology))
        entry = outbox_entry(
            EventType.APPEAL_REJECTED, rejected("x"), source="t", subject="x", correlation_id="c"
        )
        await db["things"].insert_one({"_id": "x", "state": "done", "outbox": [entry]})
        # As if the process had died before flushing: the sweep finds and publishes it.
        assert await relay.sweep() == 1
        assert (await db["things"].find_one({"_id": "x"}))["outbox"] == []
        assert await relay.sweep() == 0

        async def delivered() -> list[str]:
            return received

        assert await eventually(delivered, timeout=10) == [entry["id"]]
    finally:
        await broker.stop()
