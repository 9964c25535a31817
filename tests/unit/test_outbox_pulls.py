"""The outbox relay's deferred pulls and the sweep's grace (libs/common/outbox.py): confirmed
entries of several documents are pulled in one round trip; meanwhile no sweep publishes them
again, and no sweep takes an entry its writer may still be publishing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import mongomock
import pytest

from libs.common.clock import ManualClock
from libs.common.events import AppealTakenV1, EventType
from libs.common.outbox import OUTBOX, OutboxRelay, outbox_entry
from libs.common.store import Document, InMemoryDatabase
from tests.infra import eventually
from tests.unit.bus_fakes import RecordingBus

THINGS = "things"


class CountingDb:
    """The in-memory database, counting the commands sent to `things` by method name; while
    `pulls_fail`, a `bulk_write` raises as a store that is down would."""

    def __init__(self) -> None:
        self.inner = InMemoryDatabase(mongomock.MongoClient(tz_aware=True)["outbox"])
        self.calls: list[str] = []
        self.pulls_fail = False
        self.pull_gate: asyncio.Event | None = None  # set: a bulk_write waits for it (a slow store)
        self.pulled: list[list[str]] = []  # the documents of each slow bulk_write

    def __getitem__(self, name: str) -> Any:
        collection, db = self.inner[name], self

        async def down(*args: Any, **kwargs: Any) -> None:
            raise ConnectionError("store down")

        async def slow(requests: list[Any], **kwargs: Any) -> Any:
            assert db.pull_gate is not None
            db.pulled.append(sorted(request._filter["_id"] for request in requests))
            await db.pull_gate.wait()
            return await collection.bulk_write(requests, **kwargs)

        class Counting:
            def __getattr__(self, method: str) -> Any:
                db.calls.append(method)
                if method == "bulk_write" and db.pulls_fail:
                    return down
                if method == "bulk_write" and db.pull_gate is not None:
                    return slow
                return getattr(collection, method)

        return Counting()


def entry(subject: str, at: datetime | None = None) -> Document:
    made = outbox_entry(
        EventType.APPEAL_TAKEN,
        AppealTakenV1(
            appeal_id=subject, number="2026-000001", at=datetime(2026, 1, 1, tzinfo=UTC), operator_id="op"
        ),
        source="test",
        subject=subject,
        correlation_id="c",
    )
    if at is not None:
        made["time"] = at.isoformat()
    return made


async def write(db: CountingDb, relay: OutboxRelay, doc_id: str) -> Document:
    written = entry(doc_id)
    await db.inner[THINGS].insert_one({"_id": doc_id, OUTBOX: [written]})
    await relay.publish_written(THINGS, doc_id, [written])
    return written


async def outboxes(db: CountingDb) -> dict[str, list[Any]]:
    return {doc["_id"]: doc[OUTBOX] for doc in await db.inner[THINGS].find({}).to_list(None)}


async def test_pulls_of_several_documents_share_one_round_trip() -> None:
    db, bus = CountingDb(), RecordingBus()
    relay = OutboxRelay(db, [THINGS], bus, pull_delay=0.05)  # type: ignore[arg-type]
    for doc_id in ("a", "b", "c"):
        await write(db, relay, doc_id)
    assert len(bus.published) == 3 and db.calls == []  # published, not pulled yet
    assert all(pending for pending in (await outboxes(db)).values())

    async def pulled() -> bool:
        return all(not pending for pending in (await outboxes(db)).values())

    await eventually(pulled, timeout=5, interval=0.01)
    assert db.calls == ["bulk_write"]


async def test_the_sweep_never_republishes_what_awaits_its_pull() -> None:
    db, bus = CountingDb(), RecordingBus()
    relay = OutboxRelay(db, [THINGS], bus, pull_delay=60)  # type: ignore[arg-type]
    await write(db, relay, "a")
    assert await relay.sweep() == 0 and len(bus.published) == 1
    await relay.close()  # pulls what is pending, as a service does on shutdown
    assert await outboxes(db) == {"a": []}
    assert await relay.sweep() == 0 and len(bus.published) == 1


async def test_a_failed_pull_stays_pending_and_is_done_later() -> None:
    db, bus = CountingDb(), RecordingBus()
    relay = OutboxRelay(db, [THINGS], bus, pull_delay=60)  # type: ignore[arg-type]
    await write(db, relay, "a")
    db.pulls_fail = True
    with pytest.raises(ConnectionError):
        await relay.pull_published()
    db.pulls_fail = False
    assert await relay.sweep() == 0  # still known as published: not sent again
    await relay.pull_published()
    assert await outboxes(db) == {"a": []} and len(bus.published) == 1


async def test_the_sweep_leaves_young_entries_to_their_writer() -> None:
    clock = ManualClock(datetime.now(UTC))
    db, bus = CountingDb(), RecordingBus()
    relay = OutboxRelay(db, [THINGS], bus, sweep_grace=5, clock=clock)  # type: ignore[arg-type]
    # As another replica left them: written, not (yet) published here.
    young, old = entry("a", clock()), entry("b", clock() - timedelta(seconds=6))
    await db.inner[THINGS].insert_many([{"_id": "a", OUTBOX: [young]}, {"_id": "b", OUTBOX: [old]}])
    assert await relay.sweep() == 1 and [e.id for e in bus.published] == [old["id"]]
    clock.advance(timedelta(seconds=6))
    assert await relay.sweep() == 1 and [e.id for e in bus.published] == [old["id"], young["id"]]
    assert await outboxes(db) == {"a": [], "b": []}


async def test_an_old_entry_whose_pull_is_under_way_is_not_published_again() -> None:
    clock = ManualClock(datetime.now(UTC))
    db, bus = CountingDb(), RecordingBus()
    relay = OutboxRelay(db, [THINGS], bus, pull_delay=60, sweep_grace=5, clock=clock)  # type: ignore[arg-type]
    await write(db, relay, "a")
    clock.advance(timedelta(seconds=10))  # a store so slow that the pull is not done after the grace
    db.pull_gate = asyncio.Event()
    pulling = asyncio.create_task(relay.pull_published())

    async def pull_started() -> bool:
        return "bulk_write" in db.calls

    await eventually(pull_started, timeout=5, interval=0.01)
    assert await relay.sweep() == 0 and len(bus.published) == 1  # still marked while it is pulled
    db.pull_gate.set()
    await pulling
    assert await outboxes(db) == {"a": []} and await relay.sweep() == 0


async def test_a_pull_under_way_is_not_sent_again_by_the_next_one() -> None:
    db, bus = CountingDb(), RecordingBus()
    relay = OutboxRelay(db, [THINGS], bus, pull_delay=60)  # type: ignore[arg-type]
    db.pull_gate = asyncio.Event()
    await write(db, relay, "a")
    first = asyncio.create_task(relay.pull_published())

    async def first_sent() -> bool:
        return db.pulled == [["a"]]

    await eventually(first_sent, timeout=5, interval=0.01)
    await write(db, relay, "b")
    second = asyncio.create_task(relay.pull_published())

    async def second_sent() -> bool:
        return len(db.pulled) == 2

    await eventually(second_sent, timeout=5, interval=0.01)
    assert db.pulled == [["a"], ["b"]]  # "a" only once, though still under way
    db.pull_gate.set()
    await asyncio.gather(first, second)
    assert await outboxes(db) == {"a": [], "b": []} and await relay.sweep() == 0


async def test_a_failed_deferred_pull_is_tried_again_by_itself() -> None:
    db, bus = CountingDb(), RecordingBus()
    relay = OutboxRelay(db, [THINGS], bus, pull_delay=0.02)  # type: ignore[arg-type]
    db.pulls_fail = True
    await write(db, relay, "a")

    async def tried_twice() -> bool:
        return db.calls.count("bulk_write") >= 2

    await eventually(tried_twice, timeout=5, interval=0.01)
    db.pulls_fail = False

    async def pulled() -> bool:
        return await outboxes(db) == {"a": []}

    await eventually(pulled, timeout=5, interval=0.01)
    await relay.close()
    assert len(bus.published) == 1
