"""The shared consumer and outbox against the real RabbitMQ."""

from datetime import UTC, datetime

import aio_pika
import pytest

from libs.common.events import AppealRejectedV1, Envelope, EventType, new_event
from libs.common.messaging import EventBus, EventConsumer, create_broker, retired
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


async def test_a_retired_event_type_is_unbound_and_its_queued_events_still_handled(
    rabbit_url: str, namespace: str
) -> None:
    """A version that stops subscribing to an event type: on start its queue loses the binding an
    earlier version made (no new event of the type reaches it), and one already queued is still
    handled, not dead-lettered."""
    handled: list[str] = []

    async def handler(envelope: Envelope, payload: AppealRejectedV1) -> None:
        handled.append(envelope.id)

    topology = Topology(namespace, QueueKind.CLASSIC)
    earlier = create_broker(rabbit_url, prefetch=8)  # the earlier version: declared, then stopped
    earlier_consumer = EventConsumer(earlier, topology, "svc", {EventType.APPEAL_REJECTED: handler})
    await earlier.connect()
    await earlier_consumer.declare()
    queued = new_event(EventType.APPEAL_REJECTED, rejected(), source="t", subject="a1", correlation_id="c")
    await EventBus(earlier, topology).publish(queued)
    await earlier.stop()

    broker = create_broker(rabbit_url, prefetch=8)
    consumer = EventConsumer(broker, topology, "svc", {EventType.APPEAL_REJECTED: retired(handler)})
    assert consumer.handlers == {} and set(consumer.retired) == {EventType.APPEAL_REJECTED}
    await broker.connect()
    await consumer.declare()
    await broker.start()
    try:

        async def handled_ids() -> list[str]:
            return handled

        assert await eventually(handled_ids, timeout=10) == [queued.id]
        connection = await aio_pika.connect(rabbit_url)
        async with connection:  # nothing is bound to the type any more: the broker returns it
            channel = await connection.channel(on_return_raises=True)
            exchange = await channel.get_exchange(topology.events_exchange.name)
            with pytest.raises(aio_pika.exceptions.DeliveryError):
                await exchange.publish(aio_pika.Message(b"{}"), EventType.APPEAL_REJECTED, mandatory=True)
        assert await dead_letters(rabbit_url, consumer.dead_letter_queue.name) == []
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
