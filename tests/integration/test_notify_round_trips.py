"""What an appeal costs notify in store round trips, counted by the driver on the wire store (the
commands `libs.common.store` counts for the bench): appeal.submitted and the first appeal.routed,
which announces the answer's due date, as the bench sends them (issue #18)."""

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
from tests.unit.test_notify_handlers import NOW, FakeRelay, first_routed, submitted

pytestmark = pytest.mark.integration

PER_APPEAL = 6  # it was 12, then 8 while the registration e-mail waited for deadline.armed, then 7


def since(before: Counter[str]) -> Counter[str]:
    """Store commands sent since the reading `before` (tests/infra.store_commands), by name."""
    return store_commands() - before


@dataclass
class Notify:
    app: Any
    relay: FakeRelay

    async def deliver(self, envelope: Envelope) -> None:
        await self.app.state.runtime.consumer.handlers[envelope.type](envelope, decode_payload(envelope))


@pytest.fixture
async def notify(mongo_url: str) -> AsyncIterator[Notify]:
    """A notify app on a database of its own on the wire store (no broker: the handlers are called
    as the consumer calls them); no scheduled loop polls the store meanwhile."""
    database = f"trips_{uuid.uuid4().hex[:8]}"
    settings = NotifySettings(env="dev", namespace=database, mongo_url=mongo_url, deferred_poll_seconds=3600)
    relay = FakeRelay()
    made = Notify(create_app(settings, clock=ManualClock(NOW), transport=relay), relay)
    await made.app.state.flows.ensure_indexes()
    try:
        yield made
    finally:
        db = made.app.state.runtime.db
        await db.client.drop_database(db.name)
        await made.app.state.runtime.store.close()


def appeal(appeal_id: str) -> list[Envelope]:
    """The two events of an appeal that reach notify, in the order the platform sends them."""
    events = [submitted(appeal_id), first_routed(appeal_id)]
    return [event.model_copy(update={"id": uuid.uuid4().hex}) for event in events]


async def test_an_appeal_costs_notify_at_most_six_round_trips(notify: Notify) -> None:
    for event in appeal("warm-up"):  # the organisation's data is read once per TTL
        await notify.deliver(event)

    counted = []
    for event in appeal("a1"):
        before = store_commands()
        await notify.deliver(event)
        counted.append(since(before))
    submitted_, routed_ = counted
    assert submitted_ == {"update": 1}  # the author's contact remembered
    # The organisation remembered and the record read back; the citizen's preferences (no push
    # subscriptions read: they never subscribed); the organisation's and the citizen's feed items
    # in one write; the e-mail recorded claimed, then settled sent.
    assert routed_ == {"findAndModify": 1, "find": 1, "insert": 2, "update": 1}
    assert sum(sum(trips.values()) for trips in counted) <= PER_APPEAL
    assert [m["To"] for m in notify.relay.sent] == ["citizen@example.org"] * 2
