"""Helpers for tests: wait on conditions, find out what infrastructure is at hand."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def docker_available() -> bool:
    try:
        import docker

        docker.from_env(timeout=2).ping()
        return True
    except Exception:
        return False


async def eventually(
    probe: Callable[[], Awaitable[T | None]], timeout: float = 20.0, interval: float = 0.1
) -> T:
    """Poll until the probe returns something truthy; fail with a clear message after `timeout`."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")


# Every broker name a test run creates starts with this, so the run can remove what it made
# (queues are durable) without touching another run's.
SESSION_PREFIX = f"t{uuid.uuid4().hex[:6]}-"


def session_namespace(kind: str = "") -> str:
    return f"{SESSION_PREFIX}{kind}{uuid.uuid4().hex[:8]}"


async def delete_broker_names(rabbit_url: str, prefix: str) -> int:
    """Delete the queues and exchanges whose names start with `prefix` (local broker only)."""
    import shutil
    import subprocess

    import aio_pika

    if not shutil.which("rabbitmqctl"):
        return 0
    names: dict[str, list[str]] = {}
    for kind in ("queues", "exchanges"):
        listed = await asyncio.to_thread(
            subprocess.run,
            ["rabbitmqctl", f"list_{kind}", "-q", "--no-table-headers", "name"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        names[kind] = [name for name in listed.stdout.split() if name.startswith(prefix)]
    connection = await aio_pika.connect(rabbit_url, timeout=10)
    async with connection:
        channel = await connection.channel()
        for name in names["queues"]:
            await channel.queue_delete(name)
        for name in names["exchanges"]:
            await channel.exchange_delete(name)
    return len(names["queues"]) + len(names["exchanges"])


class Ticks:
    """A monotonic clock in seconds (what `time.monotonic` gives) that moves only when told to:
    `ticks.now += 2`."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def store_commands() -> Counter[str]:
    """Store commands this process's PyMongo clients have sent so far, by command name, as the
    bench counts round trips (`appeals_store_commands_total`, libs/common/store.py); subtract two
    readings for what a step sent."""
    from libs.common.store import STORE_COMMANDS

    sent: Counter[str] = Counter()
    for metric in STORE_COMMANDS.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                sent[sample.labels["command"]] += int(sample.value)
    return sent
