"""What an appeal costs notify in store round trips, counted by the driver on the wire store (the
commands `libs.common.store` counts for the bench): appeal.submitted, appeal.routed and the answer
deadline's deadline.armed, as the bench sends them (issue #18)."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from libs.common.clock import ManualClock
from libs.common.events import Envelope, decode_payload
from services.notify.app import create_app
from services.notify.settings import NotifySettings
from tests.infra import store_commands
from tests.unit.test_notify_caching import routed_to
from tests.unit.test_notify_handlers import NOW, FakeRelay, armed, submitted

pytestmark = pytest.mark.integration

PER_APPEAL = 8  # the target; it was 12


def since(before: Counter[str]) -> Counter[str]:
    """Store commands sent since the reading `before` (tests/infra.store_commands), by name."""
    return store_commands() - before


@dataclass
class Replica:
    app: Any
    relay: FakeRelay

    async def deliver(self, envelope: Envelope) -> None:
        await self.app.state.runtime.consumer.handlers[envelope.type](envelope, decode_payload(envelope))


@pytest.fixture
async def replicas(mongo_url: str) -> AsyncIterator[list[Replica]]:
    """Two notify processes' apps on one database of the wire store (no broker: the handlers are
    called as the consumer calls them); no scheduled loop polls the store meanwhile."""
    database = f"trips_{uuid.uuid4().hex[:8]}"
    made = []
    for _ in range(2):
        settings = NotifySettings(
            env="dev", namespace=database, mongo_url=mongo_url, deferred_poll_seconds=3600
        )
        relay = FakeRelay()
        made.append(Replica(create_app(settings, clock=ManualClock(NOW), transport=relay), relay))
    await made[0].app.state.flows.ensure_indexes()
    try:
        yield made
    finally:
        db = made[0].app.state.runtime.db
        await db.client.drop_database(db.name)
        for replica in made:
            await replica.app.state.runtime.store.close()


def appeal(appeal_id: str) -> list[Envelope]:
    """The three events of an appeal that reach notify, in the order the platform sends them."""
    events = [submitted(appeal_id), routed_to(appeal_id), armed(appeal_id)]
    return [event.model_copy(update={"id": uuid.uuid4().hex}) for event in events]


async def test_an_appeal_costs_notify_at_most_eight_round_trips(replicas: list[Replica]) -> None:
    here = replicas[0]
    for event in appeal("warm-up"):  # the organisation's data is read once per TTL
        await here.deliver(event)

    counted = []
    for event in appeal("a1"):
        before = store_commands()
        await here.deliver(event)
        counted.append(since(before))
    submitted_, routed_, armed_ = counted
    assert submitted_ == {"update": 1}  # the author's contact remembered
    # the organisation remembered and the record read back; the organisation's feed item
    assert routed_ == {"findAndModify": 1, "insert": 1}
    # the citizen's preferences and push subscriptions; the feed item; the e-mail recorded
    # claimed, then settled sent. The record is not read: this process stored its author.
    assert armed_ == {"find": 2, "insert": 2, "update": 1}
    assert sum(sum(trips.values()) for trips in counted) <= PER_APPEAL
    assert [m["To"] for m in here.relay.sent] == ["citizen@example.org"] * 2


async def test_another_replica_reads_the_record_it_did_not_store(replicas: list[Replica]) -> None:
    here, there = replicas
    submitted_, routed_, armed_ = appeal("a2")
    await here.deliver(submitted_)
    await here.deliver(routed_)
    before = store_commands()
    await there.deliver(armed_)
    assert since(before) == {"find": 3, "insert": 2, "update": 1}  # the record read once
    assert [m["To"] for m in there.relay.sent] == ["citizen@example.org"]
