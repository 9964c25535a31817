"""Routing hints and consumer filters, in memory: the header every publish sets, the broker
objects a filter declares, and a filtered handler still handling what reaches it (FastStream's
TestRabbitBroker). What RabbitMQ does with them: tests/integration/test_media_filter.py."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from faststream.rabbit import ExchangeType, RabbitBroker, RabbitMessage, RabbitQueue, TestRabbitBroker

from libs.common.events import (
    AppealRejectedV1,
    AppealSubmittedV1,
    Envelope,
    EventType,
    to_structured,
)
from libs.common.messaging import EventBus, EventConsumer, Filtered, only_when
from libs.common.topology import MEDIA_COUNT, HintFilter, Topology, routing_headers
from services.media.handlers import NAMES_FILES
from services.media.handlers import handlers as media_handlers
from tests.events import submitted_event as submitted


def test_routing_headers_count_the_files_an_event_names() -> None:
    assert routing_headers(submitted(["m1", "m2"]).data) == {"media_count": 2}
    assert routing_headers(submitted([]).data) == {"media_count": 0}
    rejected = AppealRejectedV1(
        appeal_id="a1", number="1", reason_code="c", reason="r", rejected_at=datetime.now(UTC)
    )
    assert routing_headers(rejected.model_dump(mode="json")) == {}  # names no files: no header


def test_a_filter_skips_by_header_equality_and_declares_its_exchanges() -> None:
    topology = Topology("ns")
    assert NAMES_FILES.skip_arguments == {"x-match": "all", "media_count": 0}
    exchange = topology.filter_exchange("media", "appeal.submitted")
    assert exchange.name == "ns.media.filter.appeal.submitted"
    assert exchange.type is ExchangeType.HEADERS
    # What it does not skip goes to the alternate exchange, a fanout to the consumer's queue.
    assert exchange.arguments == {"alternate-exchange": "ns.media.filtered"}
    assert topology.filtered_exchange("media").type is ExchangeType.FANOUT
    # Fed by an exchange-to-exchange binding on the event type from the public topic exchange.
    assert exchange.bind_to == topology.events_exchange
    assert exchange.routing() == "appeal.submitted"
    assert topology.discard_exchange.name == "ns.discard"


def test_media_declares_its_filter_on_both_events_that_name_files() -> None:
    declared = media_handlers(retention=None)  # type: ignore[arg-type]  # handlers not run here
    assert set(declared) == {EventType.APPEAL_SUBMITTED, EventType.APPEAL_ANSWERED}
    for handler in declared.values():
        assert isinstance(handler, Filtered)
        assert handler.when == HintFilter(MEDIA_COUNT, skip=0)


async def test_every_publish_carries_the_hint_header() -> None:
    broker = RabbitBroker()
    topology = Topology("unit")
    seen: list[dict[str, Any]] = []

    @broker.subscriber(RabbitQueue("unit.outside", routing_key="appeal.submitted"), topology.events_exchange)
    async def outside(message: RabbitMessage) -> None:
        seen.append(dict(message.headers))

    async with TestRabbitBroker(broker):
        bus = EventBus(broker, topology)
        await bus.publish(submitted(["m1"]))
        await bus.publish(submitted([]))
    assert [headers.get("media_count") for headers in seen] == [1, 0]
    assert all(headers["correlation_id"] == "c" and len(headers["appeal_id"]) == 32 for headers in seen)


async def test_a_filtered_handler_handles_what_arrives_and_its_retry_keeps_the_hint() -> None:
    broker = RabbitBroker()
    topology = Topology("unit")
    calls: list[list[str]] = []
    retried: list[dict[str, Any]] = []

    async def keep(envelope: Envelope, payload: AppealSubmittedV1) -> None:
        calls.append(payload.media_ids)
        if len(calls) == 1:
            raise RuntimeError("store briefly unavailable")

    consumer = EventConsumer(
        broker, topology, "media", {EventType.APPEAL_SUBMITTED: only_when(NAMES_FILES, keep)}
    )
    assert consumer.filters == {EventType.APPEAL_SUBMITTED: NAMES_FILES}
    assert consumer.handlers[EventType.APPEAL_SUBMITTED] is keep  # stored bare, called directly

    @broker.subscriber(consumer.retry_queue)
    async def capture(message: RabbitMessage) -> None:
        retried.append(dict(message.headers))

    async with TestRabbitBroker(broker) as test_broker:
        headers: dict[str, Any] = {"correlation_id": "c1", "appeal_id": "a1", "media_count": 1}
        await test_broker.publish(to_structured(submitted(["m1"])), queue=consumer.queue, headers=headers)
    assert calls == [["m1"]]
    assert len(retried) == 1
    assert retried[0]["media_count"] == 1 and retried[0]["x-attempt"] == 2
