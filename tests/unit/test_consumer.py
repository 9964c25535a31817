"""The shared consumer, in memory with FastStream's TestRabbitBroker."""

import asyncio
from datetime import UTC, datetime

from faststream.rabbit import RabbitBroker, RabbitMessage, RabbitQueue, TestRabbitBroker

from libs.common.events import AppealRejectedV1, Envelope, EventType, new_event
from libs.common.messaging import EventConsumer, SubjectLocks
from libs.common.topology import Topology


def rejected_event() -> Envelope:
    payload = AppealRejectedV1(
        appeal_id="a1", number="2026-000001", reason_code="spam", reason="spam", rejected_at=datetime.now(UTC)
    )
    return new_event(EventType.APPEAL_REJECTED, payload, source="test", subject="a1", correlation_id="c1")


def build(handler_calls: list[object]) -> tuple[RabbitBroker, EventConsumer, list[dict]]:
    broker = RabbitBroker()
    topology = Topology("unit")
    dead: list[dict] = []

    async def on_rejected(envelope: Envelope, payload: AppealRejectedV1) -> None:
        handler_calls.append(payload)

    consumer = EventConsumer(
        broker, topology, "svc", {EventType.APPEAL_REJECTED: on_rejected}, max_attempts=2
    )

    dlq = RabbitQueue(consumer.dead_letter_queue.name, routing_key=consumer.queue.name)

    @broker.subscriber(dlq, topology.dead_letter_exchange)
    async def capture(message: RabbitMessage) -> None:
        dead.append({"body": message.body, "headers": message.headers})

    return broker, consumer, dead


async def test_dispatches_by_event_type_with_typed_payload() -> None:
    calls: list[object] = []
    broker, consumer, dead = build(calls)
    async with TestRabbitBroker(broker) as test_broker:
        await test_broker.publish(rejected_event().model_dump_json().encode(), queue=consumer.queue)
    assert len(calls) == 1
    assert isinstance(calls[0], AppealRejectedV1)
    assert dead == []


async def test_malformed_message_goes_to_dead_letters_with_reason() -> None:
    calls: list[object] = []
    broker, consumer, dead = build(calls)
    async with TestRabbitBroker(broker) as test_broker:
        await test_broker.publish(b"{not json", queue=consumer.queue)
    assert calls == []
    assert len(dead) == 1
    assert "not a valid event envelope" in dead[0]["headers"]["x-dead-letter-reason"]


async def test_unhandled_type_goes_to_dead_letters() -> None:
    broker, consumer, dead = build([])
    envelope = rejected_event().model_copy(update={"type": "appeal.unknown"})
    async with TestRabbitBroker(broker) as test_broker:
        await test_broker.publish(envelope.model_dump_json().encode(), queue=consumer.queue)
    assert "has no handler for appeal.unknown" in dead[0]["headers"]["x-dead-letter-reason"]


async def test_deliveries_of_one_subject_are_handled_one_after_the_other() -> None:
    locks = SubjectLocks()
    log: list[str] = []
    both_started = asyncio.Event()
    started: set[str] = set()

    async def handle(subject: str, name: str) -> None:
        async with locks.hold(subject):
            log.append(f"{name} in")
            started.add(name)
            if {"a1", "b1"} <= started:
                both_started.set()  # another subject ran beside this one
            await asyncio.sleep(0.01)
            log.append(f"{name} out")

    await asyncio.gather(handle("a", "a1"), handle("a", "a2"), handle("b", "b1"))
    assert log.index("a1 out") < log.index("a2 in")  # the same appeal: one after the other
    assert both_started.is_set()  # different appeals: at the same time
    assert locks._held == {}  # nothing kept once handled
