"""Publishing and consuming domain events with RabbitMQ's reliability rules.

- Publishing: persistent messages, publisher confirms (the call returns once the broker has the
  message), correlation_id / appeal_id carried in headers.
- Consuming: one durable queue per service, bound to the event types it handles (or, for a type
  whose handler is `only_when` a routing hint allows, fed by a filter exchange); explicit acks
  only after the handler's effects are stored; a failing message goes through a delayed retry
  queue a bounded number of times, then to the dead-letter queue with the reason in its headers;
  a message that can never succeed (malformed, unknown version) goes there at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from faststream.middlewares import AckPolicy
from faststream.rabbit import Channel, RabbitBroker, RabbitMessage
from prometheus_client import Counter, Histogram

from libs.common.events import (
    STRUCTURED_CONTENT_TYPE,
    Envelope,
    PoisonMessage,
    decode_payload,
    parse_envelope,
    to_structured,
)
from libs.common.logging import bound_context, get_logger
from libs.common.topology import HintFilter, Topology, routing_headers
from libs.common.tracing import TRACING_OFF, Tracing, note_event, note_failure

Handler = Callable[[Envelope, Any], Awaitable[None]]

log = get_logger(__name__)

MESSAGES = Counter("appeals_messages_total", "Messages consumed by outcome", ["service", "type", "outcome"])
PUBLISHED = Counter("appeals_events_published_total", "Events published (confirmed)", ["type"])
HANDLER_SECONDS = Histogram("appeals_handler_seconds", "Event handler latency", ["service", "type"])


def create_broker(url: str, prefetch: int, *, connect_timeout: float | None = None) -> RabbitBroker:
    """A broker whose channels confirm publishes and limit unacked deliveries.

    connect_timeout: seconds one connection attempt may take (None: no limit, aio-pika's default)."""
    return RabbitBroker(
        url,
        default_channel=Channel(prefetch_count=prefetch, publisher_confirms=True),
        logger=None,
        timeout=connect_timeout,
    )


@dataclass(frozen=True)
class Filtered:
    """A handler RabbitMQ sends only the events `when` lets through (see `only_when`)."""

    handler: Handler
    when: HintFilter

    async def __call__(self, envelope: Envelope, payload: Any) -> None:
        await self.handler(envelope, payload)


@dataclass(frozen=True)
class Retired:
    """A handler of an event type the service no longer subscribes to (see `retired`)."""

    handler: Handler

    async def __call__(self, envelope: Envelope, payload: Any) -> None:
        await self.handler(envelope, payload)


def retired(handler: Handler) -> Handler:
    """`handler`, for an event type the service stopped subscribing to: `EventConsumer.declare`
    removes the queue's binding an earlier version made, and events of the type already in the
    queue (or retried) are still handled by it rather than dead-lettered. Drop it once no
    deployment can hold such events."""
    return Retired(handler)


def only_when(when: HintFilter, handler: Handler) -> Handler:
    """`handler`, declared to want only the events `when` lets through: `EventConsumer.declare`
    then feeds its event type through a filter exchange (`Topology.filter_exchange`) instead of
    binding the queue directly. The handler must still accept any event of the type (a message
    from a publisher without the hint, or in the queue before the filter existed, arrives)."""
    return Filtered(handler, when)


class EventBus:
    """Publishes envelopes to the domain exchange and waits for the broker's confirm."""

    def __init__(self, broker: RabbitBroker, topology: Topology, tracing: Tracing = TRACING_OFF) -> None:
        self._broker = broker
        self._exchange = topology.events_exchange
        self._tracing = tracing

    async def publish(self, envelope: Envelope) -> None:
        """Publish the envelope to the domain exchange (routing key: the event type) in CloudEvents
        structured mode, persistent, with its id as message id and a traceparent when tracing is on.
        Headers: `correlation_id`, `appeal_id` and the routing hints of its data
        (`topology.routing_headers`, e.g. `media_count`), which filter exchanges route on."""
        headers: dict[str, Any] = {
            "correlation_id": envelope.correlation_id,
            "appeal_id": envelope.subject,
            **routing_headers(envelope.data),
        }
        with self._tracing.publishing(envelope, self._exchange.name, headers):  # adds traceparent
            await self._broker.publish(
                to_structured(envelope),  # CloudEvents structured mode, written by the SDK
                exchange=self._exchange,
                routing_key=envelope.type,
                persist=True,
                mandatory=False,
                message_id=envelope.id,
                correlation_id=envelope.correlation_id,
                content_type=STRUCTURED_CONTENT_TYPE,
                headers=headers,
            )
        PUBLISHED.labels(envelope.type).inc()


class SubjectLocks:
    """One `asyncio.Lock` per subject (the aggregate an event is about) while deliveries of it are
    being handled in this process: two events of one appeal (say `appeal.routed` and
    `deadline.armed`, which arrive together) are applied one after the other instead of racing
    for the record's version guard, where the loser reads and writes again."""

    def __init__(self) -> None:
        self._held: dict[str, tuple[asyncio.Lock, int]] = {}  # subject -> (lock, users)

    @asynccontextmanager
    async def hold(self, subject: str | None) -> AsyncIterator[None]:
        """Hold the subject's lock for the block (no lock for an event without a subject)."""
        if not subject:
            yield
            return
        lock, users = self._held.get(subject) or (asyncio.Lock(), 0)
        self._held[subject] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._held[subject]
            if users == 1:
                del self._held[subject]
            else:
                self._held[subject] = (lock, users - 1)


class EventConsumer:
    """The one subscriber of a service: decodes, dispatches by event type, acks explicitly."""

    def __init__(
        self,
        broker: RabbitBroker,
        topology: Topology,
        service: str,
        handlers: Mapping[str, Handler],
        *,
        max_attempts: int = 5,
        retry_backoff_seconds: float = 0.5,
        tracing: Tracing = TRACING_OFF,
    ) -> None:
        self.broker = broker
        self.tracing = tracing
        self.topology = topology
        self.service = service
        # A handler wrapped by `only_when` is stored bare; its filter decides the declarations.
        self.filters: dict[str, HintFilter] = {
            event_type: handler.when
            for event_type, handler in handlers.items()
            if isinstance(handler, Filtered)
        }
        self.handlers: dict[str, Handler] = {  # the event types its queue is bound to
            event_type: handler.handler if isinstance(handler, Filtered) else handler
            for event_type, handler in handlers.items()
            if not isinstance(handler, Retired)
        }
        self.retired: dict[str, Handler] = {
            event_type: handler.handler
            for event_type, handler in handlers.items()
            if isinstance(handler, Retired)
        }
        self.subjects = SubjectLocks()
        self.max_attempts = max_attempts
        self.retry_backoff_seconds = retry_backoff_seconds
        self.queue = topology.consumer_queue(service)
        self.retry_queue = topology.retry_queue(service)
        self.dead_letter_queue = topology.dead_letter_queue(service)
        broker.subscriber(
            self.queue,
            ack_policy=AckPolicy.MANUAL,
            title=f"{service}: domain events",
            description=f"Handles {', '.join(sorted(self.handlers))}",
        )(self.on_message)

    async def declare(self) -> None:
        """Declare queues and bindings; call after connect and before start, so nothing is missed.

        An unfiltered event type binds the queue to the events exchange. A filtered one goes
        through its filter exchange (`Topology.filter_exchange`); the queue's direct binding an
        earlier version made is removed only after the filter path exists, so no event is missed
        meanwhile (one may arrive twice: consumers are idempotent). A retired event type's binding
        is removed. Unbinding a binding that does not exist is no error in RabbitMQ, so this is
        safe on every start."""
        exchange = await self.broker.declare_exchange(self.topology.events_exchange)
        dlx = await self.broker.declare_exchange(self.topology.dead_letter_exchange)
        queue = await self.broker.declare_queue(self.queue)
        for event_type in self.handlers:
            if event_type not in self.filters:
                await queue.bind(exchange, routing_key=event_type)
        if self.filters:
            discard = await self.broker.declare_exchange(self.topology.discard_exchange)
            filtered = await self.broker.declare_exchange(self.topology.filtered_exchange(self.service))
            await queue.bind(filtered)
            for event_type, when in sorted(self.filters.items()):
                # Declared with its alternate exchange and bound to the events exchange on the type.
                filter_exchange = await self.broker.declare_exchange(
                    self.topology.filter_exchange(self.service, event_type)
                )
                await discard.bind(filter_exchange, arguments=when.skip_arguments)
                await queue.unbind(exchange, routing_key=event_type)
        for event_type in self.retired:
            await queue.unbind(exchange, routing_key=event_type)
        dlq = await self.broker.declare_queue(self.dead_letter_queue)
        await dlq.bind(dlx, routing_key=self.queue.name)
        await self.broker.declare_queue(self.retry_queue)

    async def on_message(self) -> None:
        """Handle one delivery inside a consumer span (a child of the publisher's when tracing is on).

        The delivery is taken from FastStream's context rather than injected as a `RabbitMessage`
        parameter: an injected context field is resolved in a worker thread per message (FastStream
        0.7 through fast_depends), which cost more CPU than the rest of the consumer's own path."""
        msg: RabbitMessage = self.broker.context.get_local("message")
        with self.tracing.consuming(msg.headers or {}, self.queue.name, msg.message_id):
            await self._on_message(msg)

    async def _on_message(self, msg: RabbitMessage) -> None:
        headers = dict(msg.headers or {})
        attempt = int(headers.get("x-attempt", 1))
        event_type = "unknown"
        try:
            envelope = parse_envelope(msg.body)
            event_type = envelope.type
            note_event(envelope)
            handler = self.handlers.get(envelope.type) or self.retired.get(envelope.type)
            if handler is None:
                raise PoisonMessage(f"{self.service} has no handler for {envelope.type}")
            payload = decode_payload(envelope)
            context = {"correlation_id": envelope.correlation_id, "appeal_id": envelope.subject}
            async with self.subjects.hold(envelope.subject):
                with bound_context(context):
                    started = time.perf_counter()
                    await handler(envelope, payload)
                    HANDLER_SECONDS.labels(self.service, event_type).observe(time.perf_counter() - started)
            MESSAGES.labels(self.service, event_type, "handled").inc()
        except PoisonMessage as exc:
            note_failure(exc, "dead_lettered")
            await self._dead_letter(msg, headers, attempt, str(exc))
            MESSAGES.labels(self.service, event_type, "dead_lettered").inc()
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            note_failure(exc, "dead_lettered" if attempt >= self.max_attempts else "retried")
            if attempt >= self.max_attempts:
                await self._dead_letter(msg, headers, attempt, f"gave up after {attempt} attempts: {reason}")
                MESSAGES.labels(self.service, event_type, "dead_lettered").inc()
            else:
                with bound_context(headers):
                    log.warning(
                        "handler failed, will retry", event_type=event_type, attempt=attempt, error=reason
                    )
                await self._retry_later(msg, headers, attempt)
                MESSAGES.labels(self.service, event_type, "retried").inc()
        # Only now: the effect is stored, or the message is safely parked elsewhere (confirmed).
        await msg.ack()

    async def _retry_later(self, msg: RabbitMessage, headers: dict[str, Any], attempt: int) -> None:
        delay = self.retry_backoff_seconds * 2 ** (attempt - 1)
        await self.broker.publish(
            msg.body,
            queue=self.retry_queue.name,
            headers={**headers, "x-attempt": attempt + 1},
            expiration=timedelta(seconds=delay),
            persist=True,
            message_id=msg.message_id,
            correlation_id=msg.correlation_id,
        )

    async def _dead_letter(
        self, msg: RabbitMessage, headers: dict[str, Any], attempt: int, reason: str
    ) -> None:
        with bound_context(headers):
            log.error("message dead-lettered", queue=self.queue.name, reason=reason)
        await self.broker.publish(
            msg.body,
            exchange=self.topology.dead_letter_exchange,
            routing_key=self.queue.name,
            headers={
                **headers,
                "x-attempt": attempt,
                "x-dead-letter-reason": reason[:1000],
                "x-original-routing-key": msg.raw_message.routing_key or "",
            },
            persist=True,
            message_id=msg.message_id,
            correlation_id=msg.correlation_id,
        )
