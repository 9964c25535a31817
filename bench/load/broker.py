"""The broker-bound limit: raw confirmed publish and acked consume rates of RabbitMQ (aio-pika).

Persistent messages on a channel with publisher confirms, into one durable queue under a unique
namespace, with at most `inflight` publishes awaiting their confirm; then consumed with manual
acks and a prefetch of `inflight`. The queue is deleted afterwards, whatever happens.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

from bench.load.report import Progress
from bench.load.system import cpu_seconds, rabbitmq_pid


@dataclass
class BrokerResult:
    messages: int
    size: int
    inflight: int
    publish_seconds: float
    consume_seconds: float
    client_cpu: float = float("nan")  # CPU seconds of this (aio-pika) process over both phases
    broker_cpu: float = float("nan")  # CPU seconds of the local RabbitMQ node, if it runs here

    @property
    def publish_rate(self) -> float:
        return self.messages / self.publish_seconds

    @property
    def consume_rate(self) -> float:
        return self.messages / self.consume_seconds

    @property
    def limit(self) -> float:
        """What a pipeline that both publishes (confirmed) and consumes (acked) can at most do."""
        return min(self.publish_rate, self.consume_rate)

    @property
    def seconds(self) -> float:
        return self.publish_seconds + self.consume_seconds


async def raw_broker(
    url: str, namespace: str, count: int, inflight: int, size: int, timeout: float = 300.0
) -> BrokerResult:
    body = (b"{" + b'"x":"' + b"a" * max(0, size - 8) + b'"}')[:size]
    beam = rabbitmq_pid()
    cpu0 = cpu_seconds(os.getpid()), cpu_seconds(beam) if beam else float("nan")
    connection = await aio_pika.connect(url, timeout=10)
    queue_name = f"{namespace}.raw-{uuid.uuid4().hex[:8]}"
    try:
        channel = await connection.channel(publisher_confirms=True)
        await channel.set_qos(prefetch_count=inflight)
        queue = await channel.declare_queue(queue_name, durable=True)
        try:
            publish_seconds = await asyncio.wait_for(
                _publish(channel, queue_name, body, count, inflight), timeout
            )
            consume_seconds = await asyncio.wait_for(_consume(queue, count), timeout)
        finally:
            await queue.delete(if_unused=False, if_empty=False)
    finally:
        await connection.close()
    cpu1 = cpu_seconds(os.getpid()), cpu_seconds(beam) if beam else float("nan")
    return BrokerResult(
        count, len(body), inflight, publish_seconds, consume_seconds, cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]
    )


async def _publish(
    channel: aio_pika.abc.AbstractChannel, routing_key: str, body: bytes, count: int, inflight: int
) -> float:
    """`inflight` publishers, each waiting for its confirm before the next: a bounded window."""
    exchange = channel.default_exchange
    progress = Progress("raw publish (confirmed)", count)
    issued = 0

    async def publisher() -> None:
        nonlocal issued
        while issued < count:
            issued += 1
            message = aio_pika.Message(
                body,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=uuid.uuid4().hex,
                content_type="application/json",
            )
            await exchange.publish(message, routing_key=routing_key)  # returns on the broker's confirm
            progress.advance()

    started = time.perf_counter()
    await asyncio.gather(*(publisher() for _ in range(inflight)))
    return time.perf_counter() - started


async def _consume(queue: aio_pika.abc.AbstractQueue, count: int) -> float:
    progress = Progress("raw consume (acked)", count)
    done = asyncio.Event()
    received = 0

    async def on_message(message: AbstractIncomingMessage) -> None:
        nonlocal received
        await message.ack()
        received += 1
        progress.advance()
        if received >= count:
            done.set()

    started = time.perf_counter()
    tag = await queue.consume(on_message, no_ack=False)
    try:
        await done.wait()
    finally:
        await queue.cancel(tag)
    return time.perf_counter() - started
