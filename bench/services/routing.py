"""Routing decisions per second with the full demo catalogue loaded.

    .venv/bin/python -m bench.services.routing [--count 20000] [--store-count 500] [--seed 7]

Stages: the pure decision function (by point, by address), moderation alone, and the whole flow
through the store (moderation + repeat lookup + decision + assignment write + outbox + clusters),
on the in-memory store, or on MongoDB when MONGO_URL is set. No broker: the outbox goes to a null bus.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from devstack.appeals import submitted_envelope
from libs.common.clock import ManualClock
from libs.common.contracts.routing import CatalogueEntity
from libs.common.events import AppealSubmittedV1, Envelope
from libs.common.logging import configure_logging
from libs.common.outbox import OutboxRelay
from libs.common.store import open_store
from services.routing.catalogue import CHANGES, META, CatalogueStore
from services.routing.clusters import CLUSTERS, ClusterFlows
from services.routing.flows import RoutingFlows
from services.routing.moderation import moderate
from services.routing.records import ASSIGNMENTS
from services.routing.service import CompiledCatalogue, Place, decide
from services.routing.settings import RoutingSettings

BBOX = (43.22, 57.32, 44.35, 57.98)  # the demo region, lon/lat
ADDRESSES = [
    "г. Демоград, ул. Ленина, 5",
    "Лесогорск, ул. Лесная, 2",
    "Красноборский район, д. Ивановка",
    "ул. Мира, 1",
]
TEXTS = [
    ("Не горит фонарь", "Фонарь у дома {n} не горит вторую неделю, вечером темно."),
    ("Яма на дороге", "Глубокая яма на проезжей части у дома {n}, машины объезжают по встречной."),
    ("Нет отопления", "В квартире {n} холодно, батареи чуть тёплые уже третий день."),
    ("Автобус не пришёл", "Автобус по маршруту {n} не пришёл по расписанию утром."),
]


class NullBus:
    async def publish(self, envelope: Envelope) -> None:
        return None


@dataclass
class Row:
    stage: str
    count: int
    seconds: float

    def cells(self) -> list[str]:
        rate = self.count / self.seconds if self.seconds else float("inf")
        micros = self.seconds / self.count * 1e6 if self.count else 0.0
        return [self.stage, f"{self.count:,}", f"{self.seconds:.2f}", f"{rate:,.0f}", f"{micros:,.1f}"]


def progress(stage: str, done: int, total: int) -> None:
    if done == total or done % max(1, total // 10) == 0:
        print(f"  {stage}: {done:,}/{total:,} ({done * 100 // total}%)", flush=True)


def timed(stage: str, items: Iterable[object], total: int, work: Callable[[object], object]) -> Row:
    started = time.perf_counter()
    for done, item in enumerate(items, 1):
        work(item)
        progress(stage, done, total)
    return Row(stage, total, time.perf_counter() - started)


def random_point(rng: random.Random) -> Place:
    lon, lat = rng.uniform(BBOX[0], BBOX[2]), rng.uniform(BBOX[1], BBOX[3])
    return Place(lat, lon)


def submitted(rng: random.Random, topics: list[str], hotspots: list[Place], n: int, at: datetime) -> Envelope:
    """A random appeal; a third of them near a few hotspots (about 100 m), so clusters form."""
    place = random_point(rng)
    if rng.random() < 0.3:
        spot = rng.choice(hotspots)
        place = Place((spot.lat or 0) + rng.gauss(0, 0.001), (spot.lon or 0) + rng.gauss(0, 0.0015))
        topics = topics[:3]
    summary, description = rng.choice(TEXTS)
    return submitted_envelope(
        rng.choice(topics),
        summary,
        description.format(n=n),
        lat=place.lat,
        lon=place.lon,
        address=rng.choice(ADDRESSES),
        author=f"citizen-{rng.randrange(1000)}",
        number=f"2026-{n:06d}",
        at=at,
        source="bench",
    )


async def through_the_store(settings: RoutingSettings, count: int, rng: random.Random) -> tuple[Row, int]:
    mongo_url = os.environ.get("MONGO_URL")
    store = open_store(mongo_url, f"bench_routing_{uuid.uuid4().hex[:8]}")
    clock = ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    catalogue = CatalogueStore(store.db, clock, dev=False)
    await catalogue.load_file(settings.catalogue_path)
    clusters = ClusterFlows(store.db, catalogue, clock, settings)
    flows = RoutingFlows(
        store.db, catalogue, OutboxRelay(store.db, [ASSIGNMENTS], NullBus()), clock, settings, clusters
    )  # type: ignore[arg-type]
    await flows.ensure_indexes()
    await clusters.ensure_indexes()
    topics = sorted((await catalogue.current()).topics)
    hotspots = [random_point(rng) for _ in range(5)]
    envelopes = [submitted(rng, topics, hotspots, n, clock() + timedelta(seconds=n)) for n in range(count)]
    stage = "whole flow, " + ("MongoDB" if mongo_url else "in-memory store")
    started = time.perf_counter()
    for done, envelope in enumerate(envelopes, 1):
        await flows.route_submitted(envelope, AppealSubmittedV1.model_validate(envelope.data))
        progress(stage, done, count)
    row = Row(stage, count, time.perf_counter() - started)
    clustered = await store.db[ASSIGNMENTS].count_documents({"cluster_id": {"$ne": None}})
    for name in (ASSIGNMENTS, CLUSTERS, META, CHANGES, *CatalogueEntity):
        await store.db[name].drop()
    await store.close()
    return row, clustered


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=20_000, help="decisions per pure stage")
    parser.add_argument(
        "--store-count",
        type=int,
        default=None,
        help="appeals through the store (500 in memory, 2000 on MongoDB)",
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    configure_logging("bench", "WARNING")
    rng = random.Random(args.seed)
    settings = RoutingSettings(env="dev")

    print("Loading and compiling the demo catalogue...", flush=True)
    started = time.perf_counter()
    loader = CatalogueStore(open_store(None, "bench_load").db, ManualClock(), dev=False)
    asyncio.run(loader.load_file(settings.catalogue_path))
    cc: CompiledCatalogue = asyncio.run(loader.current())
    load_row = Row("load + compile catalogue", 1, time.perf_counter() - started)
    topics = sorted(cc.topics)
    print(
        f"  {len(cc.topics)} topics, {len(cc.organizations)} organisations, {len(cc.areas)} areas", flush=True
    )

    points = [(rng.choice(topics), random_point(rng)) for _ in range(args.count)]
    addresses = [(rng.choice(topics), Place(address=rng.choice(ADDRESSES))) for _ in range(args.count)]
    texts = [rng.choice(TEXTS) for _ in range(args.count)]
    rows = [
        load_row,
        timed("decide() by point", points, args.count, lambda item: decide(cc, *item)),  # type: ignore[misc]
        timed("decide() by address", addresses, args.count, lambda item: decide(cc, *item)),  # type: ignore[misc]
        timed("moderate()", texts, args.count, lambda item: moderate(*item)),  # type: ignore[misc]
    ]
    store_count = args.store_count or (2_000 if os.environ.get("MONGO_URL") else 500)
    store_row, clustered = asyncio.run(through_the_store(settings, store_count, rng))
    rows.append(store_row)

    header = ["stage", "decisions", "seconds", "per second", "µs each"]
    table = [header, *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    print()
    for i, line in enumerate(table):
        print(
            "  ".join(
                cell.ljust(w) if j == 0 else cell.rjust(w)
                for j, (cell, w) in enumerate(zip(line, widths, strict=True))
            )
        )
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print(f"\n{clustered:,} of {store_count:,} stored appeals landed in a duplicate cluster.")
    if not os.environ.get("MONGO_URL"):
        print("The in-memory store (mongomock) scans every document on every query, so the whole-flow rate")
        print("falls as it fills; set MONGO_URL to measure with MongoDB's indexes.")


if __name__ == "__main__":
    main()
