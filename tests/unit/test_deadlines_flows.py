"""Deadlines flows on the in-memory store: idempotent events, exactly-once firing with racing
replicas, leases of a replica that died, catch-up after downtime, the re-review chain.
Time is a ManualClock: 30-day deadlines pass in milliseconds."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import mongomock
import pytest
from pydantic import BaseModel

from libs.common.clock import ManualClock
from libs.common.events import (
    AppealAnsweredV1,
    AppealClarifiedV1,
    AppealRatedV1,
    AppealRoutedV1,
    AppealTakenV1,
    ClarificationRequestedV1,
    Envelope,
    EventType,
    IncidentRespondedV1,
    OrganizationRef,
    RereviewRequestedV1,
    decode_payload,
    new_event,
)
from libs.common.outbox import OutboxRelay
from libs.common.store import InMemoryDatabase
from services.deadlines.flows import TIMERS, DeadlineFlows
from services.deadlines.handlers import handlers
from services.deadlines.scheduled import timer_loop
from services.deadlines.service import Policy
from tests.infra import eventually
from tests.unit.bus_fakes import RecordingBus

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ORG = OrganizationRef(id="org-roads", name="Дорожное хозяйство")
POLICY = Policy(rating_window=timedelta(days=30))


class YieldingCursor:
    def __init__(self, cursor: Any, pause: Any) -> None:
        self._cursor, self._pause = cursor, pause

    def sort(self, *args: Any, **kwargs: Any) -> YieldingCursor:
        self._cursor = self._cursor.sort(*args, **kwargs)
        return self

    def limit(self, count: int) -> YieldingCursor:
        self._cursor = self._cursor.limit(count)
        return self

    async def to_list(self, length: int | None = None) -> list[dict[str, Any]]:
        await self._pause()
        return await self._cursor.to_list(length)

    def __aiter__(self) -> Any:
        return self._cursor.__aiter__()


class YieldingCollection:
    """Gives the event loop away around every store call, so racing replicas really interleave."""

    def __init__(self, inner: Any, rng: random.Random) -> None:
        self._inner, self._rng = inner, rng

    async def _pause(self) -> None:
        for _ in range(self._rng.randint(0, 3)):
            await asyncio.sleep(0)

    def find(self, *args: Any, **kwargs: Any) -> YieldingCursor:
        return YieldingCursor(self._inner.find(*args, **kwargs), self._pause)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._inner, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            await self._pause()
            result = await method(*args, **kwargs)
            await self._pause()
            return result

        return call


class YieldingDatabase:
    def __init__(self, inner: Any, seed: int = 7) -> None:
        self._inner, self._rng = inner, random.Random(seed)

    def __getitem__(self, name: str) -> YieldingCollection:
        return YieldingCollection(self._inner[name], self._rng)


def memory_db() -> Any:
    return InMemoryDatabase(mongomock.MongoClient(tz_aware=True)["deadlines"])


def replica(
    db: Any, clock: ManualClock, name: str = "r1", lease: float = 30
) -> tuple[DeadlineFlows, RecordingBus]:
    bus = RecordingBus()
    flows = DeadlineFlows(db, OutboxRelay(db, [TIMERS], bus), clock, replica_id=name, lease_seconds=lease)  # type: ignore[arg-type]
    return flows, bus


def envelope(event_type: EventType, payload: BaseModel) -> Envelope:
    return new_event(event_type, payload, source="test", subject=payload.appeal_id, correlation_id="corr")  # type: ignore[attr-defined]


def routed(appeal_id: str = "a1", at: datetime = T0, **changes: Any) -> Envelope:
    payload = AppealRoutedV1(
        appeal_id=appeal_id,
        number=f"2026-{appeal_id}",
        topic="roads.potholes",
        organization=ORG,
        rule="topic",
        answer_sla_days=10,
        timezone="Europe/Moscow",
        routed_at=at,
        **changes,
    )
    return envelope(EventType.APPEAL_ROUTED, payload)


def fact(
    event_type: EventType, model: type[BaseModel], at: datetime, appeal_id: str = "a1", **extra: Any
) -> Envelope:
    payload = model(appeal_id=appeal_id, number=f"2026-{appeal_id}", organization=ORG, at=at, **extra)
    return envelope(event_type, payload)


async def deliver(flows: DeadlineFlows, *envelopes: Envelope) -> None:
    table = handlers(flows, POLICY)
    for item in envelopes:
        await table[item.type](item, decode_payload(item))


async def test_a_redelivered_event_has_the_effect_of_one() -> None:
    clock = ManualClock(T0)
    flows, bus = replica(memory_db(), clock)
    event = routed()
    await deliver(flows, event, event)
    assert len(bus.of(EventType.DEADLINE_ARMED)) == 1
    doc = await flows.collection.find_one({"_id": "a1"})
    assert doc["applied"] == [event.id] and doc["outbox"] == []
    assert len(doc["assignments"]) == 1


async def test_an_event_overtaking_routed_is_retried_later() -> None:
    flows, _ = replica(memory_db(), ManualClock(T0))
    with pytest.raises(LookupError):
        await deliver(flows, fact(EventType.APPEAL_TAKEN, AppealTakenV1, T0, operator_id="op"))


async def test_two_replicas_racing_fire_each_timer_exactly_once() -> None:
    db = YieldingDatabase(memory_db())
    clock = ManualClock(T0)
    arming, _ = replica(db, clock, "arming")
    await deliver(arming, *(routed(f"a{i}") for i in range(60)))
    first, bus_a = replica(db, clock, "first")
    second, bus_b = replica(db, clock, "second")
    # Step through the warnings and the expiry; both replicas poll at every step.
    for moment in (timedelta(days=8), timedelta(days=10), timedelta(days=11)):
        clock.advance(T0 + moment - clock())
        await asyncio.gather(first.fire_due(25), second.fire_due(25), first.fire_due(25), second.fire_due(25))
        await asyncio.gather(first.fire_due(100), second.fire_due(100))
    published = bus_a.published + bus_b.published
    # Publishing is at least once (a flush may race the outbox sweep): effects count distinct ids.
    distinct = {e.id: e for e in published}.values()
    per_kind = Counter((e.type, e.subject, e.data.get("remaining_hours")) for e in distinct)
    assert set(per_kind.values()) == {1}, "every effect exactly once (distinct event ids)"
    assert sum(1 for kind, _, _ in per_kind if kind == EventType.DEADLINE_OVERDUE) == 60
    assert sorted(h for kind, _, h in per_kind if kind == EventType.DEADLINE_WARNING) == [12] * 60 + [60] * 60
    assert bus_a.published and bus_b.published, "both replicas took part"
    docs = await first.collection.find({}).to_list()
    assert all(d["timers"]["answer"]["state"] == "fired" and "next_due_at" not in d for d in docs)


async def test_an_event_racing_the_timer_never_doubles_or_loses_an_effect() -> None:
    db = YieldingDatabase(memory_db(), seed=3)
    clock = ManualClock(T0)
    flows, bus = replica(db, clock)
    await deliver(flows, *(routed(f"a{i}") for i in range(30)))
    clock.advance(timedelta(days=11))
    answers = [
        fact(EventType.APPEAL_ANSWERED, AppealAnsweredV1, clock(), f"a{i}", operator_id="o", text="t")
        for i in range(30)
    ]
    await asyncio.gather(flows.fire_due(100), deliver(flows, *answers), flows.fire_due(100))
    await flows.fire_due(100)
    docs = {d["_id"]: d for d in await flows.collection.find({}).to_list()}
    distinct = {e.id: e for e in bus.of(EventType.DEADLINE_OVERDUE)}.values()
    overdue = {e.subject for e in distinct}
    for appeal_id, doc in docs.items():
        current = doc["assignments"][-1]
        assert current["answered_at"] is not None
        assert (appeal_id in overdue) == (current["overdue_at"] is not None)
        assert doc["timers"]["answer"]["state"] == "done"
    assert len(distinct) == len(overdue), "at most one overdue per appeal"


async def test_a_replica_that_dies_mid_fire_is_taken_over_after_its_lease() -> None:
    db = memory_db()
    clock = ManualClock(T0)
    dying, dying_bus = replica(db, clock, "dying", lease=30)
    survivor, bus = replica(db, clock, "survivor", lease=30)
    await deliver(dying, routed("a1"), routed("a2"))
    clock.advance(timedelta(days=11))
    leased = await dying.claim_due(10)  # ...and the process dies before firing them
    assert len(leased) == 2
    assert await survivor.fire_due(10) == 0, "leased timers are left to their replica"
    clock.advance(timedelta(seconds=31))
    assert await survivor.fire_due(10) == 2
    assert {e.subject for e in bus.of(EventType.DEADLINE_OVERDUE)} == {"a1", "a2"}
    # A zombie finishing its old claim changes nothing.
    assert [await dying.fire_claimed(doc) for doc in leased] == [0, 0]
    assert dying_bus.of(EventType.DEADLINE_OVERDUE) == []


async def test_a_restarted_service_catches_up_on_what_passed_while_it_was_down() -> None:
    db = memory_db()
    clock = ManualClock(T0)
    before, _ = replica(db, clock, "before")
    await deliver(before, *(routed(f"a{i}") for i in range(250)))
    clock.advance(timedelta(days=31))  # the service was stopped all this time
    after, bus = replica(db, clock, "after")
    task = asyncio.create_task(timer_loop(after, tick_seconds=0.01, batch_size=100))
    try:

        async def all_overdue() -> bool:
            return len(bus.of(EventType.DEADLINE_OVERDUE)) == 250

        await eventually(all_overdue, timeout=10)
    finally:
        task.cancel()
    assert bus.of(EventType.DEADLINE_WARNING) == [], "no stale warnings after the deadline itself passed"


async def test_the_whole_chain_with_a_rereview_in_milliseconds() -> None:
    clock = ManualClock(T0)
    flows, bus = replica(memory_db(), clock)

    async def at(moment: timedelta, *events: Envelope) -> None:
        clock.advance(T0 + moment - clock())
        await deliver(flows, *events)
        await flows.fire_due(100)

    await at(timedelta(0), routed("a1", channel="social", first_response_sla_hours=4))
    await at(
        timedelta(hours=2),
        fact(EventType.APPEAL_TAKEN, AppealTakenV1, T0 + timedelta(hours=2), operator_id="o"),
        # a social incident's first response is the public reply, not taking it
        fact(
            EventType.INCIDENT_RESPONDED,
            IncidentRespondedV1,
            T0 + timedelta(hours=3),
            operator_id="o",
            text="r",
        ),
    )
    await at(
        timedelta(days=1),
        fact(
            EventType.APPEAL_CLARIFICATION_REQUESTED,
            ClarificationRequestedV1,
            T0 + timedelta(days=1),
            operator_id="o",
            question="?",
        ),
    )
    await at(timedelta(days=4), fact(EventType.APPEAL_CLARIFIED, AppealClarifiedV1, T0 + timedelta(days=4)))
    resumed_due = bus.of(EventType.DEADLINE_ARMED)[-1].data["due_at"]
    assert resumed_due == "2026-03-15T20:59:59Z"  # 12 Mar end of day (Moscow) + 3 paused days
    await at(
        timedelta(days=6),
        fact(EventType.APPEAL_ANSWERED, AppealAnsweredV1, T0 + timedelta(days=6), operator_id="o", text="t"),
    )
    await at(timedelta(days=7), fact(EventType.APPEAL_RATED, AppealRatedV1, T0 + timedelta(days=7), score=2))
    await at(
        timedelta(days=7),
        fact(EventType.APPEAL_REREVIEW_REQUESTED, RereviewRequestedV1, T0 + timedelta(days=7), round=1),
    )
    await at(timedelta(days=30))  # the rating window of the first answer was cancelled: nothing ends
    assert bus.of(EventType.RATING_WINDOW_ENDED) == []
    assert [e.data["timer"] for e in bus.of(EventType.DEADLINE_OVERDUE)] == [
        "answer"
    ]  # re-review deadline passed
    answered_again = T0 + timedelta(days=31)
    await at(
        timedelta(days=31),
        fact(
            EventType.APPEAL_ANSWERED, AppealAnsweredV1, answered_again, operator_id="o", text="t2", round=1
        ),
    )
    await at(timedelta(days=61))
    ended = bus.of(EventType.RATING_WINDOW_ENDED)
    assert [e.data["ended_at"] for e in ended] == ["2026-05-02T09:00:00Z"]  # 30 days after the second answer
    kinds = [(e.type, e.data.get("timer")) for e in bus.published]
    assert kinds.count((EventType.DEADLINE_ARMED, "rating_window")) == 2
    assert (EventType.DEADLINE_OVERDUE, "first_response") not in kinds  # taken within 4 hours
    doc = await flows.collection.find_one({"_id": "a1"})
    record = doc["assignments"][0]
    assert record["rereviews"] == 1 and record["ratings"] == [2]
    assert record["answered_on_time"] is True and record["paused_seconds"] == 3 * 86400


async def test_a_broken_record_does_not_hold_up_the_others() -> None:
    db = memory_db()
    clock = ManualClock(T0)
    flows, bus = replica(db, clock)
    await deliver(flows, routed("a1"), routed("a2"))
    await flows.collection.insert_one({"_id": "broken", "next_due_at": T0, "timers": "not a timer"})
    clock.advance(timedelta(days=11))
    assert await flows.fire_due(10) == 3
    assert {e.subject for e in bus.of(EventType.DEADLINE_OVERDUE)} == {"a1", "a2"}
    broken = await flows.collection.find_one({"_id": "broken"})
    assert broken["lease_owner"] == "r1", "kept leased: retried after the lease, not on every tick"
    assert await flows.fire_due(10) == 0


async def test_a_clarification_overtaken_by_its_answer_leaves_the_clock_running() -> None:
    clock = ManualClock(T0)
    flows, bus = replica(memory_db(), clock)
    await deliver(flows, routed("a1"))
    requested = fact(
        EventType.APPEAL_CLARIFICATION_REQUESTED,
        ClarificationRequestedV1,
        T0 + timedelta(days=1),
        operator_id="o",
        question="?",
    )
    clarified = fact(EventType.APPEAL_CLARIFIED, AppealClarifiedV1, T0 + timedelta(days=2))
    await deliver(flows, clarified, requested)  # the retried request comes back last
    stored = await flows.get("a1")
    assert stored is not None and stored.timers["answer"].state == "armed"
    clock.advance(timedelta(days=11))
    await flows.fire_due(10)
    assert len(bus.of(EventType.DEADLINE_OVERDUE)) == 1
