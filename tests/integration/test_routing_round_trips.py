"""Routing's `appeal.submitted` path on a real store (MongoDB wire protocol): how many commands it
sends per appeal (issue #18), counted as the bench counts them (`appeals_store_commands_total`),
and the one lookup that answers both the duplicate filter and the repeat-after-answer check."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devstack.appeals import submitted_envelope
from libs.common.clock import system_clock
from libs.common.events import AppealSubmittedV1
from libs.common.outbox import OutboxRelay
from libs.common.store import open_store
from services.routing.catalogue import CatalogueStore
from services.routing.clusters import ClusterFlows
from services.routing.flows import RoutingFlows
from services.routing.records import ASSIGNMENTS
from services.routing.settings import RoutingSettings
from tests.infra import store_commands
from tests.unit.bus_fakes import RecordingBus

pytestmark = pytest.mark.integration


async def test_a_submitted_appeal_costs_three_store_round_trips_besides_the_outbox(mongo_url: str) -> None:
    store = open_store(mongo_url, f"routing_trips_{uuid.uuid4().hex[:8]}")
    try:
        settings = RoutingSettings(env="dev")
        catalogue = CatalogueStore(store.db, system_clock, dev=True, recheck_seconds=60)
        await catalogue.load_file(settings.catalogue_path)
        clusters = ClusterFlows(store.db, catalogue, system_clock, settings)
        bus = RecordingBus()
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
            before = store_commands()
            await flows.route_submitted(envelope, AppealSubmittedV1.model_validate(envelope.data))
            sent = store_commands() - before
            # The repeat lookups (one query), the insert with its event, the cluster search; and
            # the outbox's pull after publishing (libs/common/outbox.py), the one update.
            assert sent["insert"] == 1 and sent["find"] <= 2 and sent["update"] <= 1, sent
            assert sum(sent.values()) <= 4, sent
        assert len(bus.published) == 5
        await duplicate_and_repeat_are_told_apart(flows, store.db)
        await store.db.client.drop_database(store.db.name)
    finally:
        await store.close()


async def duplicate_and_repeat_are_told_apart(flows: RoutingFlows, db: Any) -> None:
    """The one `$or` lookup on the real store: an open appeal with the same text rejects the new
    one as its repeat; an answered one of the same topic and place links it."""
    at = datetime.now(UTC)
    lamp = ("Не горит фонарь", "Фонарь у дома 5 на улице Ленина не горит вторую неделю")
    answered = submitted_envelope("landscaping.street_lighting", *lamp, author="resident-1", at=at)
    await flows.route_submitted(answered, AppealSubmittedV1.model_validate(answered.data))
    await flows.answered(answered.subject, at + timedelta(seconds=1))
    again = ("Снова не горит фонарь", "То горел, то нет, пришлось обратиться ещё раз")
    repeat = submitted_envelope(
        "landscaping.street_lighting", *again, author="resident-1", at=at + timedelta(seconds=2)
    )
    duplicate = submitted_envelope(
        "landscaping.street_lighting", *again, author="resident-1", at=at + timedelta(seconds=3)
    )
    for envelope in (repeat, duplicate):
        await flows.route_submitted(envelope, AppealSubmittedV1.model_validate(envelope.data))
    linked = await db[ASSIGNMENTS].find_one({"_id": repeat.subject})
    rejected = await db[ASSIGNMENTS].find_one({"_id": duplicate.subject})
    assert linked["repeat_of"]["appeal_id"] == answered.subject and linked["status"] == "routed"
    assert rejected["status"] == "rejected" and linked["number"] in rejected["rejection"]["reason"]
