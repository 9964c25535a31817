"""Looking into, and cleaning up after, a stack's namespace on the broker (RabbitMQ over AMQP).

Used by the chaos harness (devstack/chaos/), the benchmarks (bench/) and the end-to-end tests.

- Queue depths come from passive declares over AMQP (the management plugin is usually off here):
  `message_count` is the number of ready messages, `consumer_count` the subscribed consumers.
- Dead-letter queues are drained (read and removed), so every phase of a run sees only its own.
- A finished run's durable queues and exchanges are deleted: a broker holding thousands of
  leftovers restarts slowly.

Names follow libs/common/topology.py: `<namespace>.<service>` (its queue), `.retry` and `.dlq`
beside it, and the exchanges `<namespace>.events` and `<namespace>.dlx`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractRobustConnection

from devstack.stack import SERVICES
from libs.common.events import EventType
from libs.common.topology import Topology

INSPECT_TIMEOUT = 30.0  # any look into the broker, seconds


@dataclass(frozen=True)
class Depth:
    messages: int  # ready messages
    consumers: int


@dataclass(frozen=True)
class DeadLetter:
    service: str
    message_id: str
    event_type: str
    reason: str
    attempt: int


def queue_names(namespace: str, service: str) -> tuple[str, str, str]:
    """A service's (queue, retry queue, dead-letter queue) names under a namespace."""
    base = f"{namespace}.{service}"
    return base, f"{base}.retry", f"{base}.dlq"


@asynccontextmanager
async def _connection(url: str) -> AsyncIterator[AbstractRobustConnection]:
    connection = await aio_pika.connect_robust(url, timeout=5)
    try:
        yield connection
    finally:
        await connection.close()


async def _passive(channel: AbstractChannel, name: str) -> Depth | None:
    try:
        queue = await channel.declare_queue(name, passive=True)
    except aio_pika.exceptions.ChannelClosed:
        return None
    result: Any = queue.declaration_result
    return Depth(int(result.message_count), int(result.consumer_count))


async def depths(url: str, names: list[str]) -> dict[str, Depth | None]:
    """Ready messages and consumers per queue (None: the queue does not exist).

    Raises TimeoutError after INSPECT_TIMEOUT seconds, aio-pika's errors when the broker is away."""
    found: dict[str, Depth | None] = {}
    async with asyncio.timeout(INSPECT_TIMEOUT), _connection(url) as connection:
        for name in names:
            channel = await connection.channel()
            found[name] = await _passive(channel, name)
            if not channel.is_closed:
                await channel.close()
    return found


async def drain_dead_letters(
    url: str, namespace: str, services: Sequence[str] = SERVICES
) -> list[DeadLetter]:
    """Read (and remove) everything in the services' dead-letter queues."""
    letters: list[DeadLetter] = []
    async with asyncio.timeout(INSPECT_TIMEOUT), _connection(url) as connection:
        for service in services:
            name = queue_names(namespace, service)[2]
            channel = await connection.channel()
            if await _passive(channel, name) is None:
                continue
            channel = await connection.channel()
            queue = await channel.get_queue(name, ensure=False)
            while (message := await queue.get(no_ack=True, fail=False, timeout=5)) is not None:
                headers = dict(message.headers or {})
                letters.append(
                    DeadLetter(
                        service=service,
                        message_id=str(message.message_id or ""),
                        event_type=_event_type(message.body),
                        reason=_text(headers.get("x-dead-letter-reason")),
                        attempt=int(str(headers.get("x-attempt", 1))),
                    )
                )
            await channel.close()
    return letters


def _text(value: object) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value or "")


def _event_type(body: bytes) -> str:
    try:
        return str(json.loads(body).get("type", "?"))
    except (ValueError, AttributeError):
        return "(not JSON)"


async def publish_raw(url: str, queue: str, body: bytes, message_id: str) -> None:
    """A persistent message straight into a queue (default exchange), confirmed by the broker."""
    async with asyncio.timeout(INSPECT_TIMEOUT), _connection(url) as connection:
        channel = await connection.channel(publisher_confirms=True)
        message = aio_pika.Message(
            body,
            message_id=message_id,
            content_type="application/cloudevents+json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        await channel.default_exchange.publish(message, routing_key=queue)


async def delete_namespace(url: str, namespace: str, services: Sequence[str] = SERVICES) -> None:
    """Remove a run's queues and exchanges from the shared broker (best effort: what is missing,
    or cannot be deleted, is passed over; the stack must be stopped first).

    Raises TimeoutError after INSPECT_TIMEOUT seconds, aio-pika's errors when the broker is away."""
    async with asyncio.timeout(INSPECT_TIMEOUT), _connection(url) as connection:
        for service in services:
            for name in queue_names(namespace, service):
                channel = await connection.channel()  # a failed delete closes its channel
                with suppress(Exception):
                    await channel.queue_delete(name)
        topology = Topology(namespace)
        filters = [  # a consumer's filter exchanges (libs/common/topology.py), for any event type
            name
            for service in services
            for name in (
                topology.filtered_exchange(service).name,
                *(topology.filter_exchange(service, event_type).name for event_type in EventType),
            )
        ]
        for exchange in (*filters, topology.discard_exchange.name, f"{namespace}.events", f"{namespace}.dlx"):
            channel = await connection.channel()
            with suppress(Exception):
                await channel.exchange_delete(exchange)
