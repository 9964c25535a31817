"""A stack with several processes per service, competing on each service's queue, and what shows
how they shared the work: a spy on the exchange and each replica's own message counters.

Used by the end-to-end test (tests/e2e/test_replicas.py) and the benchmark (`python -m
bench.replicas`); see docs/operations.md, "Replicas".
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import httpx
from faststream.rabbit import RabbitBroker, RabbitMessage, RabbitQueue

from devstack.appeals import Appeal
from devstack.mailsink import MailSink
from devstack.metrics import MESSAGES, counter
from devstack.stack import LocalStack
from libs.common.topology import Topology

SCALED = ("routing", "deadlines", "notify")  # the services scaled out; the gateway and media stay at one
Counts = dict[tuple[str, ...], float]  # (event type, outcome) → messages, of one process


class EventSpy:
    """A queue of its own on the namespace's exchange: every event published, by type and id.

    An event the outbox relay published twice (its flush and a sweep raced) shows up as one id
    seen twice; the consumers must absorb such duplicates (idempotency, in their store).
    """

    def __init__(self, rabbit_url: str, namespace: str) -> None:
        self.seen: Counter[tuple[str, str]] = Counter()  # (type, event id) → times published
        self._broker = RabbitBroker(rabbit_url, logger=None)
        queue = RabbitQueue(f"{namespace}.bench-spy", auto_delete=True, routing_key="#")

        @self._broker.subscriber(queue, Topology(namespace).events_exchange)
        async def record(message: RabbitMessage) -> None:
            self.seen[(message.raw_message.routing_key or "", message.message_id or "")] += 1

    async def __aenter__(self) -> EventSpy:
        await self._broker.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._broker.stop()

    def published(self, event_type: str) -> int:
        """Messages of this type on the exchange (a re-published event counts each time)."""
        return sum(times for (kind, _), times in self.seen.items() if kind == event_type)

    def republished(self) -> int:
        """How many messages were a second (or later) copy of an event already published."""
        return sum(times - 1 for times in self.seen.values())


async def replica_counts(client: httpx.AsyncClient, stack: LocalStack, service: str) -> dict[str, Counts]:
    """Each replica's message counters, by its process name."""
    out = {}
    for process in stack.instances(service):
        response = await client.get(f"{stack.url(process)}/metrics")
        response.raise_for_status()
        out[process] = counter(response.text, MESSAGES, ("type", "outcome"))
    return out


def settled(counts: Counts, event_type: str) -> int:
    """Deliveries of a type this process finished with: handled or dead-lettered (not retried)."""
    return int(sum(counts.get((event_type, outcome), 0.0) for outcome in ("handled", "dead_lettered")))


def handled(counts: Counts, event_type: str | None = None) -> int:
    """Deliveries this process handled: of one type, or of all."""
    return int(
        sum(
            value
            for (kind, outcome), value in counts.items()
            if outcome == "handled" and event_type in (None, kind)
        )
    )


async def route_entries(client: httpx.AsyncClient, appeals: Sequence[Appeal]) -> dict[str, int]:
    """How many `route` steps each appeal's timeline holds (intake's record)."""

    async def one(appeal: Appeal) -> tuple[str, int]:
        response = await client.get(f"/api/v1/appeals/{appeal.id}", headers=appeal.headers)
        response.raise_for_status()
        return appeal.number, sum(entry.get("action") == "route" for entry in response.json()["timeline"])

    return dict(await asyncio.gather(*(one(appeal) for appeal in appeals)))


def start_stack(
    sink: MailSink,
    workdir: Path,
    *,
    replicas: dict[str, int],
    rabbit_url: str | None = None,
    mongo_url: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> LocalStack:
    """A started stack (fresh namespace, free ports, no website) with `replicas` processes per
    service (`{"routing": 3}`), mailing to `sink`. Raises what LocalStack.start raises (RuntimeError
    when a service exits, TimeoutError when one is not ready), after stopping what had started."""
    stack = LocalStack.ephemeral(
        f"replicas-{uuid.uuid4().hex[:8]}", workdir, smtp=(sink.host, sink.port), frontends=()
    )
    stack.replicas = dict(replicas)
    if rabbit_url:
        stack.extra_env["RABBIT_URL"] = rabbit_url
    if mongo_url:
        stack.extra_env["MONGO_URL"] = mongo_url
    stack.extra_env.update(extra_env or {})
    stack.start()
    return stack
