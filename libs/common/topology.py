"""Names and declarations on the broker; every name carries the deployment's namespace."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from faststream.rabbit import ExchangeType, QueueType, RabbitExchange, RabbitQueue

from libs.common.settings import QueueKind


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
