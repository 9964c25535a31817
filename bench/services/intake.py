"""Intake's own hot path, in one process: store operations and CPU time per appeal.

    .venv/bin/python -m bench.services.intake [--appeals 300] [--stored 0,1000]

Per appeal, what the gateway and its consumer do: the submit rate check, `submit` (number,
insert, publish), then `appeal.routed` applied and `deadline.armed` recorded. No HTTP, no broker
(events go to a bus that only counts them): what is left is intake's own work, counted per store
operation (each one a round trip on MongoDB) and timed with the process's CPU clock, so other
work on the machine barely moves it. The whole-stack `python -m bench` cannot separate that from
everything else on two cores. In-memory store (mongomock) unless MONGO_URL is set.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import httpx

from bench.load.report import Progress, text_table
from libs.common.aggregate import Aggregate
from libs.common.auth import Principal, Role
from libs.common.clock import system_clock
from libs.common.events import (
    AppealRoutedV1,
    DeadlineArmedV1,
    Envelope,
    EventType,
    OrganizationRef,
    TimerKind,
    new_event,
)
from libs.common.logging import configure_logging
from libs.common.messaging import EventBus
from libs.common.outbox import OutboxRelay
from libs.common.store import Database, open_store
from services.intake import steps
from services.intake.actions import AppealWriter
from services.intake.flows import AppealFlows
from services.intake.gateway.clients import InternalClients
from services.intake.ratelimit import SubmitRateLimit
from services.intake.records import APPEALS
from services.intake.schemas import AppealCreate
from services.intake.settings import IntakeSettings

TOPIC = "landscaping.street_lighting"
ORG = OrganizationRef(id="city-admin", name="Администрация города")


class CountingBus:
    published = 0

    async def publish(self, envelope: Envelope) -> None:
        self.published += 1


class CountingCollection:
    def __init__(self, collection: Any, counts: Counter[str]) -> None:
        self._collection = collection
        self._counts = counts

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._collection, name)
        if not callable(attr) or name.startswith("_"):
            return attr
        counts, label = self._counts, f"{self._collection.name}.{name}"

        def counted(*args: Any, **kwargs: Any) -> Any:
            counts[label] += 1
            return attr(*args, **kwargs)

        return counted


class CountingDatabase:
    """Counts every call the flows make on a collection (create_index included)."""

    def __init__(self, db: Any) -> None:
        self._db = db
        self.counts: Counter[str] = Counter()

    def __getitem__(self, name: str) -> CountingCollection:
        return CountingCollection(self._db[name], self.counts)


def topics_transport() -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=[{"code": TOPIC, "name": "Уличное освещение"}])

    return httpx.MockTransport(answer)


async def one_appeal(
    n: int, run: str, flows: AppealFlows, writer: AppealWriter, limiter: SubmitRateLimit
) -> None:
    principal = Principal(sub=f"{run}-{n}", role=Role.CITIZEN)
    body = AppealCreate(
        kind="complaint",
        topic=TOPIC,
        summary="Не горит фонарь",
        description=f"Фонарь у дома {n} не горит вторую неделю.",
        location={"lat": 57.65, "lon": 43.77, "address": f"ул. Ленина, {n}"},
        contact={"email": f"{run}-{n}@example.org"},
    )
    await limiter.check(principal.sub)
    appeal, _ = await flows.submit(principal, body, None, "bench")
    now = datetime.now(UTC)
    routed = AppealRoutedV1(
        appeal_id=appeal["_id"],
        number=appeal["number"],
        topic=TOPIC,
        organization=ORG,
        rule="topic",
        answer_sla_days=20,
        routed_at=now,
    )
    envelope = new_event(
        EventType.APPEAL_ROUTED, routed, source="routing", subject=appeal["_id"], correlation_id="bench"
    )
    await writer.apply(envelope, steps.routed(routed))
    armed = DeadlineArmedV1(
        appeal_id=appeal["_id"],
        number=appeal["number"],
        timer=TimerKind.ANSWER,
        due_at=now + timedelta(days=20),
        organization=ORG,
        armed_at=now,
    )
    envelope = new_event(
        EventType.DEADLINE_ARMED, armed, source="deadlines", subject=appeal["_id"], correlation_id="bench"
    )
    await writer.record(envelope, steps.deadline_armed(armed))


async def run(appeals: int, levels: list[int]) -> list[list[str]]:
    mongo_url = os.environ.get("MONGO_URL")
    database = f"bench_intake_{uuid.uuid4().hex[:8]}"
    store = open_store(mongo_url, database)
    counting = CountingDatabase(store.db)
    db = cast(Database, counting)
    settings = IntakeSettings(env="dev")
    upstream = InternalClients(settings, topics_transport())
    bus = CountingBus()
    relay = OutboxRelay(db, [APPEALS], cast(EventBus, bus))
    aggregate = Aggregate(db, APPEALS, relay)
    flows = AppealFlows(db, aggregate, system_clock, upstream, settings.max_media_per_appeal)
    writer = AppealWriter(db, aggregate, system_clock)
    limiter = SubmitRateLimit(db, system_clock, per_minute=1_000_000)
    await flows.ensure_indexes()
    await limiter.ensure_indexes()
    rows: list[list[str]] = []
    stored, n, run_id = 0, 0, uuid.uuid4().hex[:6]

    async def batch(count: int, label: str) -> None:
        nonlocal n
        progress = Progress(label, count)
        for _ in range(count):
            n += 1
            await one_appeal(n, run_id, flows, writer, limiter)
            progress.advance()

    try:
        for level in levels:
            if level > stored:
                await batch(level - stored, f"pre-load to {level:,}")
                stored = level
            counting.counts.clear()
            bus.published = 0
            cpu, wall = time.process_time(), time.perf_counter()
            await batch(appeals, f"measure at {stored:,} stored")
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            stored += appeals
            ops = sum(counting.counts.values())
            rows.append(
                [
                    f"{level:,}",
                    f"{ops / appeals:.1f}",
                    f"{cpu * 1000 / appeals:.2f}",
                    f"{wall * 1000 / appeals:.2f}",
                    f"{bus.published / appeals:.1f}",
                ]
            )
            detail = ", ".join(
                f"{name} {count / appeals:g}" for name, count in sorted(counting.counts.items())
            )
            print(f"  store operations per appeal: {detail}", flush=True)
    finally:
        await upstream.close()
        if mongo_url:
            for name in (APPEALS, "counters", "rate_limits"):
                await store.db[name].drop()
        await store.close()
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.services.intake",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--appeals", type=int, default=300, help="appeals measured per level")
    parser.add_argument("--stored", default="0,1000", help="appeals already stored at each level")
    args = parser.parse_args(argv)
    configure_logging("bench", "WARNING")
    levels = sorted({int(part) for part in args.stored.split(",") if part.strip()})
    rows = asyncio.run(run(args.appeals, levels))
    header = ["stored before", "store ops/appeal", "CPU ms/appeal", "wall ms/appeal", "events published"]
    print()
    print(text_table(header, rows))
    store = "MongoDB" if os.environ.get("MONGO_URL") else "in-memory store (mongomock)"
    print(f"\nintake alone: rate check + submit + appeal.routed + deadline.armed, {store}")


if __name__ == "__main__":
    main()
