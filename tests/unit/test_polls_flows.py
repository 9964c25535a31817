"""Polls flows on the in-memory store: one ballot per voter under concurrency, revotes, closing
exactly once across racing replicas, catch-up after downtime, and the `poll.closed` handler
(through FastStream's TestRabbitBroker) unlinking ballots from voters."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import mongomock
import pytest
from faststream.rabbit import RabbitBroker, TestRabbitBroker

from libs.common.clock import ManualClock
from libs.common.contracts.polls import BallotCast, PollCreate, PollStatus, VoteOutcome
from libs.common.events import EventType
from libs.common.messaging import EventConsumer
from libs.common.outbox import OutboxRelay
from libs.common.store import InMemoryDatabase
from libs.common.topology import Topology
from services.polls.flows import BALLOTS, POLLS, NotFound, PollFlows
from services.polls.handlers import handlers
from services.polls.service import Refused
from tests.unit.bus_fakes import RecordingBus
from tests.unit.test_deadlines_flows import YieldingDatabase

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def memory_db() -> Any:
    return InMemoryDatabase(mongomock.MongoClient(tz_aware=True)["polls"])


def replica(
    db: Any, clock: ManualClock, name: str = "r1", lease: float = 30
) -> tuple[PollFlows, RecordingBus]:
    bus = RecordingBus()
    relay = OutboxRelay(db, [POLLS], bus)  # type: ignore[arg-type]
    return PollFlows(db, relay, clock, replica_id=name, lease_seconds=lease, close_grace_seconds=1), bus


def create(**changes: Any) -> PollCreate:
    data: dict[str, Any] = {
        "title": "Новая площадка",
        "questions": [
            {"text": "Место", "kind": "single", "options": ["Парк", "Набережная"]},
            {"text": "Мнение", "kind": "opinion"},
        ],
        "area_ids": ["demograd"],
        "closes_at": T0 + timedelta(hours=1),
        "organization_id": "demograd-admin",
        "created_by": "op-1",
    }
    return PollCreate.model_validate(data | changes)


def cast(voter: str, option: str = "o1") -> BallotCast:
    return BallotCast(voter_id=voter, answers=[{"question_id": "q1", "option_ids": [option]}])  # type: ignore[list-item]


async def published_poll(flows: PollFlows, **changes: Any) -> str:
    await flows.ensure_indexes()
    poll = await flows.create(create(**changes), "corr")
    await flows.publish(poll.id, "corr")
    return poll.id


async def test_ten_concurrent_identical_votes_leave_one_ballot() -> None:
    db, clock = YieldingDatabase(memory_db()), ManualClock(T0)
    flows, _ = replica(db, clock)
    poll_id = await published_poll(flows)
    results = await asyncio.gather(*(flows.vote(poll_id, cast("citizen-1")) for _ in range(10)))
    outcomes = sorted(r.outcome for r in results)
    assert outcomes.count(VoteOutcome.CAST) == 1
    assert outcomes.count(VoteOutcome.UNCHANGED) == 9
    assert await db[BALLOTS].count_documents({"poll_id": poll_id}) == 1
    tally = await flows.results(await flows.get(poll_id))
    assert tally.ballots == 1 and tally.questions[0].options[0].count == 1


async def test_concurrent_different_votes_one_wins_the_rest_refused() -> None:
    db, clock = YieldingDatabase(memory_db()), ManualClock(T0)
    flows, _ = replica(db, clock)
    poll_id = await published_poll(flows)
    attempts = [flows.vote(poll_id, cast("citizen-1", "o1" if i % 2 else "o2")) for i in range(10)]
    results = await asyncio.gather(*attempts, return_exceptions=True)
    refused = [r for r in results if isinstance(r, Refused)]
    assert all(r.reason == "already_voted" for r in refused)
    assert [r.outcome for r in results if not isinstance(r, Exception)].count(VoteOutcome.CAST) == 1
    assert await db[BALLOTS].count_documents({"poll_id": poll_id}) == 1


async def test_revote_replaces_only_if_allowed_and_open() -> None:
    db, clock = memory_db(), ManualClock(T0)
    flows, _ = replica(db, clock)
    poll_id = await published_poll(flows, revote_allowed=True)
    await flows.vote(poll_id, cast("c1", "o1"))
    replaced = await flows.vote(poll_id, cast("c1", "o2"))
    assert replaced.outcome is VoteOutcome.REPLACED and replaced.ballot.revisions == 1
    assert (await flows.ballot_of(poll_id, "c1")).answers[0].option_ids == ["o2"]
    clock.advance(timedelta(hours=1))
    with pytest.raises(Refused, match="closed"):
        await flows.vote(poll_id, cast("c1", "o1"))
    with pytest.raises(NotFound):
        await flows.ballot_of(poll_id, "someone-else")


async def test_edit_after_publish_is_refused() -> None:
    flows, _ = replica(memory_db(), ManualClock(T0))
    poll_id = await published_poll(flows)
    with pytest.raises(Refused) as refused:
        await flows.edit(poll_id, create())
    assert refused.value.status == 409


async def test_publish_and_close_announce_once_across_racing_replicas() -> None:
    db, clock = YieldingDatabase(memory_db()), ManualClock(T0)
    (first, bus1), (second, bus2) = replica(db, clock, "r1"), replica(db, clock, "r2")
    poll_id = await published_poll(first)
    assert len(bus1.of(EventType.POLL_PUBLISHED)) == 1
    for voter, option in [("a", "o1"), ("b", "o1"), ("c", "o2")]:
        await first.vote(poll_id, cast(voter, option))
    clock.advance(timedelta(minutes=59))
    assert await first.close_due(10) == 0  # not due yet
    clock.advance(timedelta(minutes=1, seconds=1))  # closes_at + grace
    await asyncio.gather(first.close_due(10), second.close_due(10), first.close_due(10))
    closed = bus1.of(EventType.POLL_CLOSED) + bus2.of(EventType.POLL_CLOSED)
    assert len(closed) == 1
    results = closed[0].data["results"]
    assert results["final"] is True and results["ballots"] == 3
    assert [o["count"] for o in results["questions"][0]["options"]] == [2, 1]
    assert [o["percent"] for o in results["questions"][0]["options"]] == [66.7, 33.3]
    poll = await first.get(poll_id)
    assert poll.status == PollStatus.CLOSED
    assert "close_due_at" not in await db[POLLS].find_one({"_id": poll_id})


async def test_a_restarted_service_closes_what_fell_due_while_down() -> None:
    db, clock = memory_db(), ManualClock(T0)
    flows, _ = replica(db, clock, "old")
    poll_id = await published_poll(flows)
    clock.advance(timedelta(days=3))  # down for days
    restarted, bus = replica(db, clock, "new")
    assert await restarted.close_due(10) == 1
    assert len(bus.of(EventType.POLL_CLOSED)) == 1
    assert (await restarted.get(poll_id)).status == PollStatus.CLOSED


async def test_a_dead_replicas_lease_is_taken_over_after_it_runs_out() -> None:
    db, clock = memory_db(), ManualClock(T0)
    dead, _ = replica(db, clock, "dead", lease=30)
    poll_id = await published_poll(dead)
    clock.advance(timedelta(hours=2))
    assert len(await dead.claim_due(10)) == 1  # claimed, then the process dies
    other, bus = replica(db, clock, "other")
    assert await other.close_due(10) == 0  # the lease still holds
    clock.advance(timedelta(seconds=31))
    assert await other.close_due(10) == 1
    assert len(bus.of(EventType.POLL_CLOSED)) == 1
    assert (await other.get(poll_id)).status == PollStatus.CLOSED


async def test_cancelled_poll_never_closes() -> None:
    db, clock = memory_db(), ManualClock(T0)
    flows, bus = replica(db, clock)
    poll_id = await published_poll(flows)
    await flows.cancel(poll_id, "corr-cancel")
    clock.advance(timedelta(days=1))
    assert await flows.close_due(10) == 0
    assert bus.of(EventType.POLL_CLOSED) == []
    [cancelled] = bus.of(EventType.POLL_CANCELLED)
    assert cancelled.subject == poll_id and cancelled.correlation_id == "corr-cancel"
    assert cancelled.data["area_ids"] == ["demograd"] and cancelled.data["cancelled_at"]
    with pytest.raises(Refused):  # once cancelled, always cancelled: no second event
        await flows.cancel(poll_id, "corr")
    assert len(bus.of(EventType.POLL_CANCELLED)) == 1


async def test_cancelling_a_draft_announces_nothing() -> None:
    db, clock = memory_db(), ManualClock(T0)
    flows, bus = replica(db, clock)
    await flows.ensure_indexes()
    draft = await flows.create(create(), "corr")
    assert (await flows.cancel(draft.id, "corr")).status == PollStatus.CANCELLED
    assert bus.published == []


async def test_poll_closed_handler_unlinks_ballots_idempotently() -> None:
    db, clock = memory_db(), ManualClock(T0)
    flows, bus = replica(db, clock)
    poll_id = await published_poll(flows)
    await flows.vote(poll_id, cast("c1"))
    await flows.vote(poll_id, cast("c2"))
    clock.advance(timedelta(hours=2))
    await flows.close_due(10)
    [closed] = bus.of(EventType.POLL_CLOSED)
    broker = RabbitBroker()
    consumer = EventConsumer(broker, Topology("unit"), "polls", handlers(flows), max_attempts=2)
    async with TestRabbitBroker(broker) as test_broker:
        for _ in range(2):  # a redelivery changes nothing
            await test_broker.publish(closed.model_dump_json().encode(), queue=consumer.queue)
    ballots = await db[BALLOTS].find({"poll_id": poll_id}).to_list(None)
    assert len(ballots) == 2
    assert all(b["voter_id"] == f"unlinked:{b['_id']}" and not b["linked"] for b in ballots)
    with pytest.raises(NotFound):
        await flows.ballot_of(poll_id, "c1")
    assert (await flows.results(await flows.get(poll_id))).ballots == 2  # results stay
