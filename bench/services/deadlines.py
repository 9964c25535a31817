"""How late do due timers fire with a million armed, and what does holding them cost?

    .venv/bin/python -m bench.services.deadlines [--timers 1000000] [--due 5000] [--window 10]
        [--catchup 10000] [--tick 1.0] [--batch 200] [--store indexed|mongomock]

1. Arms `--timers` answer timers (bulk insert of the documents the service writes; all but
   `--due` of them due in 1-30 days, warnings included).
2. On time: `--due` of them fall due during the next `--window` seconds while the service's own
   timer loop runs (real clock, `--tick`): lateness = publish time - due time.
3. Catch-up: `--catchup` timers that passed while the loop was stopped; time to drain them.
Memory: process RSS before and after arming, and tracemalloc's bytes per armed timer (sampled).

Store: MongoDB when MONGO_URL is set (a throwaway database, dropped after), else an in-memory
store with the indexes MongoDB would use (bench/services/deadlines_store.py). `--store mongomock` uses the
platform's stand-in, which scans every document per query: try it with --timers 20000.
The outbox goes to an in-process bus that notes when each event was published.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import pickle
import random
import time
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import bson

from bench.services.deadlines_store import IndexedDatabase
from libs.common.clock import system_clock
from libs.common.events import AppealRoutedV1, Envelope, EventType, OrganizationRef
from libs.common.logging import configure_logging
from libs.common.outbox import OutboxRelay
from libs.common.store import open_store
from services.deadlines.flows import TIMERS, DeadlineFlows
from services.deadlines.scheduled import timer_loop
from services.deadlines.service import Policy, routed
from services.deadlines.stats import quantile

CHUNK = 10_000


class StampingBus:
    """Notes the wall-clock moment each event is published; tells when the expected ones are out."""

    def __init__(self) -> None:
        self.stamps: dict[str, tuple[str, datetime, datetime]] = {}  # id -> (type, due, published)
        self.done = asyncio.Event()
        self._since, self._expected, self._seen = datetime.max.replace(tzinfo=UTC), 0, 0

    def expect(self, since: datetime, count: int) -> None:
        self._since, self._expected, self._seen = since, count, 0
        self.done.clear()

    async def publish(self, envelope: Envelope) -> None:
        due = envelope.data.get("due_at")
        if not due or envelope.id in self.stamps:
            return
        published = datetime.now(UTC)
        self.stamps[envelope.id] = (envelope.type, datetime.fromisoformat(due), published)
        if envelope.type == EventType.DEADLINE_OVERDUE and published >= self._since:
            self._seen += 1
            if self._seen >= self._expected:
                self.done.set()

    def overdue(self, since: datetime) -> list[tuple[datetime, datetime]]:
        return [(d, p) for t, d, p in self.stamps.values() if t == EventType.DEADLINE_OVERDUE and p >= since]


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size in MiB, from /proc."""
    fields = {}
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) / 1024
    return fields.get("VmRSS", 0.0), fields.get("VmHWM", 0.0)


def template(now: datetime) -> bytes:
    """The document the service stores for a freshly routed appeal, pickled for fast copies."""
    event = AppealRoutedV1(
        appeal_id="tpl",
        number="2026-000000",
        topic="roads.potholes",
        organization=OrganizationRef(id="org-roads", name="Дорожное хозяйство"),
        rule="topic",
        answer_sla_days=30,
        timezone="Europe/Moscow",
        routed_at=now,
    )
    clock = routed(None, event, "bench", now, Policy()).clock
    doc = {
        **clock.to_document(),
        "version": 1,
        "applied": [uuid.uuid4().hex],
        "outbox": [],
        "created_at": now,
    }
    return pickle.dumps(doc)


def timer_doc(blob: bytes, n: int, due: datetime, now: datetime) -> dict[str, Any]:
    doc: dict[str, Any] = pickle.loads(blob)  # noqa: S301 - our own bytes
    doc["_id"] = doc["appeal_id"] = f"bench-{n:08d}"
    doc["number"] = f"2026-{n:08d}"
    answer = doc["timers"]["answer"]
    warnings = [w for w in (due - timedelta(days=3), due - timedelta(days=1)) if w > now]
    answer["due_at"], answer["warnings"] = due, warnings
    doc["next_due_at"] = min([due, *warnings])
    return doc


async def insert(db: Any, docs: list[dict[str, Any]]) -> None:
    collection = db[TIMERS]
    if hasattr(collection, "bulk_load"):
        collection.bulk_load(docs)
    else:
        await collection.insert_many(docs)


async def arm(db: Any, blob: bytes, first: int, count: int, due_of: Any, label: str) -> float:
    started = time.perf_counter()
    now = datetime.now(UTC)
    for offset in range(0, count, CHUNK):
        size = min(CHUNK, count - offset)
        await insert(db, [timer_doc(blob, first + offset + i, due_of(), now) for i in range(size)])
        done = offset + size
        if done == count or done % max(CHUNK, count // 10 // CHUNK * CHUNK) == 0:
            print(f"  {label}: {done:,}/{count:,} ({done * 100 // count}%)", flush=True)
    return time.perf_counter() - started


def bytes_per_timer(blob: bytes, sample: int) -> float:
    db = IndexedDatabase("sample")
    now = datetime.now(UTC)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    docs = [timer_doc(blob, i, now + timedelta(days=10), now) for i in range(sample)]
    db[TIMERS].bulk_load(docs)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    del docs
    return grown / sample


async def fire_until(
    flows: DeadlineFlows, bus: StampingBus, since: datetime, expected: int, args: Any
) -> float:
    """Run the service's timer loop until `expected` overdue events are out; returns seconds."""
    bus.expect(since, expected)
    started = time.perf_counter()
    loop = asyncio.create_task(timer_loop(flows, args.tick, args.batch))
    try:
        await asyncio.wait_for(bus.done.wait(), timeout=args.window + 120 + expected / 50)
    except TimeoutError:
        print(f"  gave up waiting: {len(bus.overdue(since)):,} of {expected:,} fired", flush=True)
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)
    return time.perf_counter() - started


def lateness_cells(pairs: list[tuple[datetime, datetime]]) -> list[str]:
    late = [max(0.0, (published - due).total_seconds() * 1000) for due, published in pairs]
    return [f"{quantile(late, q) or 0:,.0f}" for q in (0.5, 0.95)] + [f"{max(late, default=0):,.0f}"]


def open_db(args: Any) -> tuple[Any, str, Any]:
    if url := os.environ.get("MONGO_URL"):
        store = open_store(url, f"bench_deadlines_{uuid.uuid4().hex[:8]}")
        return store.db, "MongoDB (MONGO_URL)", store
    if args.store == "mongomock":
        return open_store(None, "bench_deadlines").db, "mongomock stand-in (no indexes)", None
    return IndexedDatabase(), "in-memory with MongoDB's indexes", None


async def run(args: Any) -> tuple[list[list[str]], list[str]]:
    rng = random.Random(args.seed)
    db, store_name, store = open_db(args)
    bus = StampingBus()
    flows = DeadlineFlows(
        db,
        OutboxRelay(db, [TIMERS], bus),
        system_clock,
        replica_id="bench",
        lease_seconds=30,  # type: ignore[arg-type]
    )
    await flows.ensure_indexes()
    blob = template(datetime.now(UTC))
    print(f"Store: {store_name}", flush=True)
    rss_before, _ = rss_mb()
    far = args.timers - args.due

    def far_due() -> datetime:
        return datetime.now(UTC) + timedelta(days=1 + rng.random() * 29)

    armed_s = await arm(db, blob, 0, far, far_due, "arming (due in 1-30 days)")
    if not args.no_gc_freeze:
        # The armed documents stand for a database's pages, not the service's heap: keep the
        # garbage collector from walking a million of them on every full collection.
        gc.collect()
        gc.freeze()
    hot_start = datetime.now(UTC)

    def hot_due() -> datetime:
        return hot_start + timedelta(seconds=0.5 + rng.random() * args.window)

    armed_s += await arm(db, blob, far, args.due, hot_due, f"arming (due in the next {args.window:g} s)")
    rss_after, _ = rss_mb()
    print(f"Firing: {args.due:,} timers fall due over {args.window:g} s...", flush=True)
    on_time_s = await fire_until(flows, bus, hot_start, args.due, args)
    on_time = bus.overdue(hot_start)

    print(f"Catch-up: {args.catchup:,} timers passed while the loop was stopped...", flush=True)
    stopped_at = datetime.now(UTC)

    def past_due() -> datetime:
        return stopped_at - timedelta(seconds=1 + rng.random() * 3600)

    await arm(db, blob, args.timers, args.catchup, past_due, "arming (already due)")
    restart = datetime.now(UTC)
    catchup_s = await fire_until(flows, bus, restart, args.catchup, args)
    caught = bus.overdue(restart)
    per_timer = bytes_per_timer(blob, min(args.timers, 10_000))
    _, peak = rss_mb()
    if store is not None:
        await db.client.drop_database(db.name)
        await store.close()

    def rate(count: int, seconds: float) -> str:
        return f"{count / seconds:,.0f}" if seconds else "-"

    restart_lateness = [(max(due, restart), published) for due, published in caught]
    table = [
        ["stage", "timers", "seconds", "per second", "late p50 ms", "late p95 ms", "late max ms"],
        ["arm (bulk insert)", f"{args.timers:,}", f"{armed_s:.1f}", rate(args.timers, armed_s), "", "", ""],
        ["fire on time", f"{len(on_time):,}", f"{on_time_s:.1f}", "", *lateness_cells(on_time)],
        [
            "catch-up after downtime",
            f"{len(caught):,}",
            f"{catchup_s:.1f}",
            rate(len(caught), catchup_s),
            *lateness_cells(restart_lateness),
        ],
    ]
    total = args.timers + args.catchup
    memory = [
        f"RSS {rss_before:,.0f} MiB before arming, {rss_after:,.0f} MiB after "
        f"({(rss_after - rss_before) * 1024 * 1024 / args.timers:,.0f} B per armed timer); peak {peak:,.0f} MiB",
        f"tracemalloc: {per_timer:,.0f} B per stored timer document (sampled on {min(args.timers, 10_000):,});"
        f" {total:,} documents held at the end",
        f"BSON: {len(bson.encode(pickle.loads(blob))):,} B per timer document in MongoDB (before indexes)",  # noqa: S301
    ]
    return table, memory


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--timers", type=int, default=1_000_000, help="armed timers (default 1e6)")
    parser.add_argument("--due", type=int, default=5_000, help="of those, due during the measurement")
    parser.add_argument("--window", type=float, default=10.0, help="seconds over which they fall due")
    parser.add_argument("--catchup", type=int, default=10_000, help="timers that passed during downtime")
    parser.add_argument("--tick", type=float, default=1.0, help="DEADLINES_TICK_SECONDS")
    parser.add_argument("--batch", type=int, default=200, help="DEADLINES_BATCH_SIZE")
    parser.add_argument("--store", choices=["indexed", "mongomock"], default="indexed")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-gc-freeze", action="store_true", help="leave the armed documents to the GC")
    args = parser.parse_args()
    if args.due > args.timers:
        parser.error("--due cannot exceed --timers")
    configure_logging("bench", "WARNING")
    print(
        f"Deadlines benchmark: {args.timers:,} timers, tick {args.tick:g} s, batch {args.batch}", flush=True
    )
    table, memory = asyncio.run(run(args))
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    rows = [
        [c.ljust(w) if j == 0 else c.rjust(w) for j, (c, w) in enumerate(zip(line, widths, strict=True))]
        for line in table
    ]
    rows.insert(1, ["-" * w for w in widths])
    print("", *("  ".join(row) for row in rows), "", *memory, sep="\n")
    print("Lateness: publish time minus due time (catch-up: minus the restart); the tick bounds it.")


if __name__ == "__main__":
    main()
