"""Routing's `appeal.submitted` path on a real store (MongoDB wire protocol): how many commands it
sends per appeal (issue #18), counted as the bench counts them (`appeals_store_commands_total`)."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest

from devstack.appeals import submitted_envelope
from libs.common.clock import system_clock
from libs.common.events import AppealSubmittedV1, Envelope
from libs.common.outbox import OutboxRelay
from libs.common.store import STORE_COMMANDS, open_store
from services.routing.catalogue import CatalogueStore
from services.routing.clusters import ClusterFlows
from services.routing.flows import RoutingFlows
from services.routing.records import ASSIGNMENTS
from services.routing.settings import RoutingSettings

pytestmark = pytest.mark.integration


class Published:
    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def publish(self, envelope: Envelope) -> None:
        self.envelopes.append(envelope)


def commands() -> Counter[str]:
    sent: Counter[str] = Counter()
    for metric in STORE_COMMANDS.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                sent[sample.labels["command"]] += int(sample.value)
    return sent


async def test_a_submitted_appeal_costs_three_store_round_trips_besides_the_outbox(mongo_url: str) -> None:
    store = open_store(mongo_url, f"routing_trips_{uuid.uuid4().hex[:8]}")
    try:
        settings = RoutingSettings(env="dev")
        catalogue = CatalogueStore(store.db, system_clock, dev=True, recheck_seconds=60)
        await catalogue.load_file(settings.catalogue_path)
        clusters = ClusterFlows(store.db, catalogue, system_clock, settings)
        bus = Published()
        relay = OutboxRelay(store.db, [ASSIGNMENTS], bus)  # type: ignore[arg-type]
        flows = RoutingFlows(store.db, catalogue, relay, system_clock, settings, clusters)
        await flows.ensure_indexes()
        await clusters.ensure_indexes()
        await catalogue.current()
        for i in range(5):  # each by its own citizen, ~1 km apart: no repeats, no clusters
            envelope = submitted_envelope(
                "roads.potholes",
                "Яма на дороге",
                f"Глубокая яма на проезжей части у дома {i}",
                lat=57.64 + i * 0.01,
                lon=43.77,
                author=f"citizen-{uuid.uuid4().hex[:8]}",
            )
            before = commands()
            await flows.route_submitted(envelope, AppealSubmittedV1.model_validate(envelope.data))
            sent = commands() - before
            # The repeat lookups (one query), the insert with its event, the cluster search; and
            # the outbox's pull after publishing (libs/common/outbox.py), the one update.
            assert sent["insert"] == 1 and sent["find"] <= 2 and sent["update"] <= 1, sent
            assert sum(sent.values()) <= 4, sent
        assert len(bus.envelopes) == 5
        await store.db.client.drop_database(store.db.name)
    finally:
        await store.close()
