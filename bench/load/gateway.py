"""Bursts of appeals through the public gateway, the wait for their "registered" e-mails, and
the services' own counters before and after (the appeals and the sink: devstack/appeals.py)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx

from bench.load.report import Progress
from devstack.appeals import RegisteredSink, Submission
from devstack.metrics import MESSAGES, PUBLISHED, STORE_COMMANDS, counter, scrape, total

CAP_SECONDS = 3600.0  # no single wait of the bench lasts longer, whatever happens
# Commands that are no round trip of the work: readiness probes and session clean-up.
NOT_WORK = frozenset({"ping", "endSessions"})


@dataclass
class Batch:
    """What one burst of submissions gave: per appeal, its number, when the 201 came and latency."""

    started: float = 0.0
    finished: float = 0.0
    numbers: list[str] = field(default_factory=list)
    accepted_at: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)  # what went wrong → how many times

    @property
    def seconds(self) -> float:
        return self.finished - self.started


async def submit(
    client: httpx.AsyncClient,
    appeals: list[Submission],
    concurrency: int,
    label: str,
    deadline_seconds: float,
) -> Batch:
    """POST every appeal with `concurrency` callers, each waiting for its answer before the next."""
    batch = Batch()
    progress = Progress(label, len(appeals))
    work = iter(appeals)
    stop_at = time.monotonic() + deadline_seconds

    async def caller() -> None:
        for appeal in work:
            if time.monotonic() > stop_at:
                batch.errors["not sent: time limit"] += 1
                continue
            await _post(client, appeal, batch)
            progress.advance()

    batch.started = time.monotonic()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    batch.finished = time.monotonic()
    return batch


async def submit_paced(
    client: httpx.AsyncClient, appeals: list[Submission], per_second: float, label: str
) -> Batch:
    """POST the appeals at a steady `per_second`, each at its time whatever the answers to the ones
    before (an open loop: a slow answer does not slow the arrivals, as with real residents)."""
    batch = Batch()
    progress = Progress(label, len(appeals))

    async def one(index: int, appeal: Submission) -> None:
        await asyncio.sleep(max(0.0, batch.started + index / per_second - time.monotonic()))
        await _post(client, appeal, batch)
        progress.advance()

    batch.started = time.monotonic()
    await asyncio.gather(*(one(index, appeal) for index, appeal in enumerate(appeals)))
    batch.finished = time.monotonic()
    return batch


async def _post(client: httpx.AsyncClient, appeal: Submission, batch: Batch) -> None:
    """POST one appeal; its number, answer time and latency go into `batch`, a failure into its errors."""
    headers, body = appeal
    sent = time.monotonic()
    try:
        response = await client.post("/api/v1/appeals", headers=headers, json=body)
    except httpx.HTTPError as exc:
        batch.errors[type(exc).__name__] += 1
        return
    answered = time.monotonic()
    if response.status_code == 201:
        batch.numbers.append(response.json()["number"])
        batch.accepted_at.append(answered)
        batch.latencies.append(answered - sent)
    else:
        batch.errors[str(response.status_code)] += 1


async def wait_for_mail(
    sink: RegisteredSink, numbers: Sequence[str], label: str, stall: float, cap: float
) -> tuple[int, bool]:
    """Until every number's "registered" e-mail is in; gives up after `stall` seconds without a new
    one, or `cap` seconds in all. Returns (arrived, complete)."""
    progress = Progress(label, len(numbers))
    started = last_change = time.monotonic()
    arrived = sink.count(numbers)
    while arrived < len(numbers):
        now = time.monotonic()
        if now - last_change > stall or now - started > cap:
            break
        await asyncio.sleep(0.1)
        count = sink.count(numbers)
        if count != arrived:
            arrived, last_change = count, time.monotonic()
            progress.update(arrived)
    return arrived, arrived == len(numbers)


@dataclass(frozen=True)
class Counters:
    """One service's counters (from its /metrics): events published, deliveries handled, and
    store commands (round trips) sent, all since the process started."""

    published: float = 0.0
    handled: float = 0.0
    store_commands: float = 0.0

    def __sub__(self, other: Counters) -> Counters:
        return Counters(
            self.published - other.published,
            self.handled - other.handled,
            self.store_commands - other.store_commands,
        )


async def service_counters(client: httpx.AsyncClient, urls: dict[str, str]) -> dict[str, Counters]:
    """Service name → its counters now; a service that does not answer counts zero."""
    out: dict[str, Counters] = {}
    for name, url in urls.items():
        text = await scrape(client, url) or ""
        commands = counter(text, STORE_COMMANDS, ("command",))
        out[name] = Counters(
            published=total(text, PUBLISHED),
            handled=total(text, MESSAGES, outcome="handled"),
            store_commands=sum(n for (command,), n in commands.items() if command not in NOT_WORK),
        )
    return out
