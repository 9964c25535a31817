"""The consumers' filters on the real RabbitMQ: `appeal.submitted` / `appeal.answered` reach media's
queue only when they name files (the `media_count` header), `deadline.armed` reaches intake's only
when it does not confirm the due date the first `appeal.routed` announced (`due_announced`), or
when an older publisher sent no header; other consumers, and an outside queue bound to the topic
exchange, still get every event.

The queues are only declared, not consumed, and read with basic.get after the publishes are
confirmed: RabbitMQ routes a message before it confirms it, so what a queue holds then is final."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aio_pika
import pytest
from faststream.rabbit import RabbitBroker

from libs.common.events import (
    AppealAnsweredV1,
    AppealRejectedV1,
    DeadlineArmedV1,
    Envelope,
    EventType,
    OrganizationRef,
    TimerKind,
    new_event,
    to_structured,
)
from libs.common.messaging import EventBus, EventConsumer, Handler, create_broker
from libs.common.settings import QueueKind
from libs.common.topology import Topology
from services.intake.handlers import handlers as intake_handlers
from services.media.handlers import handlers as media_handlers
from tests.events import submitted_event as submitted

pytestmark = pytest.mark.integration


async def ignore(envelope: Envelope, payload: object) -> None:
    """Never run: these consumers are declared, not started."""


def answered(media_ids: list[str]) -> Envelope:
    payload = AppealAnsweredV1(
        appeal_id="a1",
        number="2026-000042",
        organization=OrganizationRef(id="roads", name="Roads"),
        at=datetime.now(UTC),
        operator_id="operator-1",
        text="Fixed",
        media_ids=media_ids,
    )
    return new_event(EventType.APPEAL_ANSWERED, payload, source="t", subject="a1", correlation_id="c")


async def declared(
    broker: RabbitBroker, topology: Topology, service: str, handlers: dict[str, Handler]
) -> None:
    await EventConsumer(broker, topology, service, handlers).declare()


async def drain(channel: aio_pika.abc.AbstractChannel, queue_name: str) -> list[str]:
    """The event ids a queue holds, in order; the queue is left empty."""
    queue = await channel.get_queue(queue_name)
    ids = []
    while (message := await queue.get(fail=False, no_ack=True)) is not None:
        ids.append(message.message_id or "")
    return ids


@pytest.fixture
async def broker(rabbit_url: str) -> AsyncIterator[RabbitBroker]:
    broker = create_broker(rabbit_url, prefetch=8)
    await broker.connect()
    try:
        yield broker
    finally:
        await broker.stop()


@pytest.fixture
async def channel(rabbit_url: str) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    connection = await aio_pika.connect(rabbit_url)
    async with connection:
        yield await connection.channel(publisher_confirms=True)


@pytest.mark.parametrize("kind", [QueueKind.CLASSIC, QueueKind.QUORUM])
async def test_media_gets_only_the_events_that_name_files_others_get_all(
    broker: RabbitBroker, channel: aio_pika.abc.AbstractChannel, namespace: str, kind: QueueKind
) -> None:
    topology = Topology(namespace, kind)
    types = (EventType.APPEAL_SUBMITTED, EventType.APPEAL_ANSWERED)
    # The version before the filter: media's queue bound directly, as every consumer's is.
    await declared(broker, topology, "media", dict.fromkeys(types, ignore))
    await declared(broker, topology, "media", media_handlers(retention=None))  # type: ignore[arg-type]
    await declared(broker, topology, "media", media_handlers(retention=None))  # type: ignore[arg-type]  # a restart
    await declared(broker, topology, "notify", dict.fromkeys(types, ignore))
    outside = await channel.declare_queue(f"{namespace}.outside", durable=True)
    await outside.bind(topology.events_exchange.name, routing_key="appeal.*")

    bus = EventBus(broker, topology)
    without_files, with_files = submitted([]), submitted(["m1", "m2"])
    answer_without, answer_with = answered([]), answered(["m3"])
    for event in (without_files, with_files, answer_without, answer_with):
        await bus.publish(event)
    # An older publisher: no `media_count` header. Such a message must still reach media.
    legacy = submitted(["m4"])
    exchange = await channel.get_exchange(topology.events_exchange.name)
    await exchange.publish(
        aio_pika.Message(to_structured(legacy), message_id=legacy.id, headers={"appeal_id": legacy.subject}),
        routing_key=legacy.type,
    )

    everything = [without_files.id, with_files.id, answer_without.id, answer_with.id, legacy.id]
    assert await drain(channel, topology.queue_name("media")) == [with_files.id, answer_with.id, legacy.id]
    assert await drain(channel, topology.queue_name("notify")) == everything
    assert await drain(channel, outside.name) == everything


async def test_the_header_is_the_number_of_files_and_only_where_an_event_names_files(
    broker: RabbitBroker, channel: aio_pika.abc.AbstractChannel, namespace: str
) -> None:
    topology = Topology(namespace)
    outside = await channel.declare_queue(f"{namespace}.outside", durable=True)
    await broker.declare_exchange(topology.events_exchange)
    await outside.bind(topology.events_exchange.name, routing_key="#")
    bus = EventBus(broker, topology)
    await bus.publish(submitted(["m1", "m2"]))
    await bus.publish(submitted([]))
    rejected = new_event(
        EventType.APPEAL_REJECTED,
        AppealRejectedV1(
            appeal_id="a1", number="1", reason_code="c", reason="r", rejected_at=datetime.now(UTC)
        ),
        source="t",
        subject="a1",
        correlation_id="c",
    )
    await bus.publish(rejected)
    counts = []
    while (message := await outside.get(fail=False, no_ack=True)) is not None:
        counts.append(message.headers.get("media_count"))
    assert counts == [2, 0, None]


def armed(announced: bool) -> Envelope:
    now = datetime.now(UTC)
    payload = DeadlineArmedV1(
        appeal_id="a1",
        number="2026-000042",
        timer=TimerKind.ANSWER,
        due_at=now,
        organization=OrganizationRef(id="roads", name="Roads"),
        armed_at=now,
        announced=announced,
    )
    return new_event(EventType.DEADLINE_ARMED, payload, source="t", subject="a1", correlation_id="c")


async def test_intake_is_not_sent_the_arming_of_a_due_date_it_took_from_the_first_routing(
    broker: RabbitBroker, channel: aio_pika.abc.AbstractChannel, namespace: str
) -> None:
    topology = Topology(namespace)
    await declared(broker, topology, "intake", {EventType.DEADLINE_ARMED: ignore})  # before the filter
    await declared(broker, topology, "intake", intake_handlers(writer=None))  # type: ignore[arg-type]
    await declared(broker, topology, "notify", {EventType.DEADLINE_ARMED: ignore})  # an unfiltered one
    bus = EventBus(broker, topology)
    confirming, new_date = armed(announced=True), armed(announced=False)
    await bus.publish(confirming)
    await bus.publish(new_date)
    legacy = armed(announced=True)  # an older deadlines: no header, so delivered
    exchange = await channel.get_exchange(topology.events_exchange.name)
    await exchange.publish(
        aio_pika.Message(to_structured(legacy), message_id=legacy.id, headers={"appeal_id": "a1"}),
        routing_key=legacy.type,
    )
    assert await drain(channel, topology.queue_name("intake")) == [new_date.id, legacy.id]
    assert await drain(channel, topology.queue_name("notify")) == [confirming.id, new_date.id, legacy.id]
