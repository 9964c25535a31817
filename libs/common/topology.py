"""Names and declarations on the broker; every name carries the deployment's namespace.

Routing hints: headers the publisher derives from an event's data so that RabbitMQ can route on
them (`ROUTING_HINTS`), and the filters a consumer declares on them (`HintFilter`). The public
contract stays the topic exchange, routing key = event type, the body; a hint is never data, and a
message without it (an older publisher) is delivered as if the filter let it through.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from faststream.rabbit import ExchangeType, QueueType, RabbitExchange, RabbitQueue

from libs.common.settings import QueueKind


@dataclass(frozen=True)
class RoutingHint:
    """A header `EventBus.publish` sets on every event whose data has `field`: for a list, the
    number of its items; for a flag, 1 or 0 (an int >= 0). A routing hint for the broker, never
    read as data."""

    header: str
    field: str
    description: str  # what the value says (the AsyncAPI document's header description)

    def value(self, data: Mapping[str, Any]) -> int | None:
        """The header's value for an event's `data`; None when the event has no such field."""
        item = data.get(self.field)
        if isinstance(item, bool):
            return int(item)
        return len(item) if isinstance(item, list) else None


# How many files an event names (`appeal.submitted`, `appeal.answered`): a consumer that only
# keeps files (media) is sent only the events that name some.
MEDIA_COUNT = RoutingHint(
    "media_count",
    "media_ids",
    "How many files the event names (the number of `data.media_ids`); a routing hint, not data.",
)
# Whether a deadline.armed only confirms the due date the appeal's first appeal.routed announced:
# a consumer that recorded it from there (intake) is not sent it.
DUE_ANNOUNCED = RoutingHint(
    "due_announced",
    "announced",
    "1 when the deadline's due date is the one the first `appeal.routed` announced "
    "(`data.announced`), else 0; a routing hint, not data.",
)
ROUTING_HINTS: tuple[RoutingHint, ...] = (MEDIA_COUNT, DUE_ANNOUNCED)


def routing_headers(data: Mapping[str, Any]) -> dict[str, int]:
    """Every hint that applies to an event's `data`, as AMQP headers ({header: int})."""
    return {hint.header: value for hint in ROUTING_HINTS if (value := hint.value(data)) is not None}


@dataclass(frozen=True)
class HintFilter:
    """A consumer's filter on one event type: deliver it unless the hint's header equals `skip`.
    A message without the header is delivered (fail open: nothing is lost to an older publisher)."""

    hint: RoutingHint
    skip: int = 0

    @property
    def skip_arguments(self) -> dict[str, Any]:
        """The headers-exchange binding arguments matching the messages to skip."""
        return {"x-match": "all", self.hint.header: self.skip}

    def describe(self) -> str:
        """One sentence for the AsyncAPI document and logs."""
        return f"only when the header `{self.hint.header}` is not {self.skip} (or absent)"


@dataclass(frozen=True)
class Topology:
    namespace: str
    queue_kind: QueueKind = QueueKind.CLASSIC

    @property
    def events_exchange(self) -> RabbitExchange:
        """The public topic exchange: routing key = event type. Others bind their own queues."""
        return RabbitExchange(f"{self.namespace}.events", type=ExchangeType.TOPIC, durable=True)

    @property
    def dead_letter_exchange(self) -> RabbitExchange:
        """The direct exchange `<namespace>.dlx` that rejected messages go to."""
        return RabbitExchange(f"{self.namespace}.dlx", type=ExchangeType.DIRECT, durable=True)

    @property
    def discard_exchange(self) -> RabbitExchange:
        """`<namespace>.discard`, a fanout exchange with no bindings: what a filter skips is routed
        here (so it is "routed" and no alternate exchange takes it) and dropped."""
        return RabbitExchange(f"{self.namespace}.discard", type=ExchangeType.FANOUT, durable=True)

    def filtered_exchange(self, consumer: str) -> RabbitExchange:
        """`<namespace>.<consumer>.filtered`, fanout to the consumer's queue: the alternate exchange
        of its filter exchanges, so every message a filter does not skip reaches the queue."""
        return RabbitExchange(f"{self.queue_name(consumer)}.filtered", type=ExchangeType.FANOUT, durable=True)

    def filter_exchange(self, consumer: str, event_type: str) -> RabbitExchange:
        """`<namespace>.<consumer>.filter.<event_type>`: a headers exchange bound to the events
        exchange on `event_type` (exchange-to-exchange). Its one binding sends the messages to
        skip to `discard_exchange`; the rest, matching nothing, go to its alternate exchange
        `filtered_exchange(consumer)` (RabbitMQ's alternate exchanges), header present or not."""
        return RabbitExchange(
            f"{self.queue_name(consumer)}.filter.{event_type}",
            type=ExchangeType.HEADERS,
            durable=True,
            arguments={"alternate-exchange": self.filtered_exchange(consumer).name},
            bind_to=self.events_exchange,
            routing_key=event_type,
        )

    def queue_name(self, consumer: str) -> str:
        """`<namespace>.<consumer>`."""
        return f"{self.namespace}.{consumer}"

    def consumer_queue(self, consumer: str) -> RabbitQueue:
        """The consumer's durable queue (quorum or classic as configured), dead-lettering to its
        `.dlq`."""
        name = self.queue_name(consumer)
        arguments: Any = {
            "x-dead-letter-exchange": self.dead_letter_exchange.name,
            "x-dead-letter-routing-key": name,
        }
        if self.queue_kind is QueueKind.QUORUM:
            return RabbitQueue(name, queue_type=QueueType.QUORUM, durable=True, arguments=arguments)
        return RabbitQueue(name, durable=True, arguments=arguments)

    def retry_queue(self, consumer: str) -> RabbitQueue:
        """Holds a failed message for its backoff (per-message TTL), then dead-letters it back."""
        name = self.queue_name(consumer)
        arguments: Any = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": name}
        if self.queue_kind is QueueKind.QUORUM:
            # at-least-once dead-lettering: a retry is never dropped on its way back
            arguments |= {"x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"}
            return RabbitQueue(
                f"{name}.retry", queue_type=QueueType.QUORUM, durable=True, arguments=arguments
            )
        return RabbitQueue(f"{name}.retry", durable=True, arguments=arguments)

    def dead_letter_queue(self, consumer: str) -> RabbitQueue:
        """`<namespace>.<consumer>.dlq`, durable, where its poison and exhausted messages wait."""
        name = f"{self.queue_name(consumer)}.dlq"
        if self.queue_kind is QueueKind.QUORUM:
            return RabbitQueue(name, queue_type=QueueType.QUORUM, durable=True)
        return RabbitQueue(name, durable=True)
