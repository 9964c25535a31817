"""The one write pattern (libs/common/aggregate.py) on the in-memory store: a lost race is decided
again, an applied event id has no second effect, a failed publish is left to the outbox sweep."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import mongomock
import pytest

from libs.common.aggregate import MAX_ATTEMPTS, Aggregate, Change, ConcurrentChange
from libs.common.events import AppealTakenV1, EventType
from libs.common.outbox import OutboxRelay, outbox_entry
from libs.common.store import Document, InMemoryDatabase
from tests.unit.bus_fakes import RecordingBus

RECORDS = "records"


class Racing:
    """A collection whose reads are overtaken by another writer `times` times: each read is
    answered, then the record's version moves on before the reader can write."""

    def __init__(self, inner: Any, times: int) -> None:
        self._inner, self.times = inner, times

    async def find_one(self, *args: Any, **kwargs: Any) -> Any:
        doc = await self._inner.find_one(*args, **kwargs)
        if doc is not None and self.times > 0:
            self.times -= 1
            await self._inner.update_one(
                {"_id": doc["_id"]}, {"$inc": {"version": 1}, "$push": {"log": "other"}}
            )
        return doc

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class RacingDb:
    def __init__(self, inner: Any, times: int) -> None:
        self.inner, self.collection = inner, Racing(inner[RECORDS], times)

    def __getitem__(self, name: str) -> Any:
        return self.collection if name == RECORDS else self.inner[name]


def setup(*, failing: bool = False, races: int = 0) -> tuple[Any, Aggregate, OutboxRelay, RecordingBus]:
    db = InMemoryDatabase(mongomock.MongoClient(tz_aware=True)["aggregate"])
    bus = RecordingBus(failing=failing)
    relay = OutboxRelay(db, [RECORDS], bus)  # type: ignore[arg-type]
    return db, Aggregate(RacingDb(db, races) if races else db, RECORDS, relay), relay, bus  # type: ignore[arg-type]


def taken(doc: Document | None) -> Change:
    assert doc is not None
    entry = outbox_entry(
        EventType.APPEAL_TAKEN,
        AppealTakenV1(
            appeal_id=doc["_id"], number="2026-000001", at=datetime(2026, 3, 2, tzinfo=UTC), operator_id="op"
        ),
        source="test",
        subject=doc["_id"],
        correlation_id="c",
    )
    return Change(set={"status": "in_work"}, push={"log": "taken"}, events=[entry])


async def test_a_lost_race_is_decided_again_on_the_fresh_record() -> None:
    db, records, _, bus = setup(races=2)
    await db[RECORDS].insert_one({"_id": "a1", "status": "routed", "version": 3, "log": [], "outbox": []})
    seen: list[int] = []

    def decide(doc: Document | None) -> Change:
        assert doc is not None
        seen.append(doc["version"])
        return taken(doc)

    assert await records.apply("e1", "a1", decide) is not None
    doc = await db[RECORDS].find_one({"_id": "a1"})
    assert seen == [3, 4, 5]  # two reads were overtaken; the third decision was written
    assert doc["version"] == 6 and doc["log"] == ["other", "other", "taken"]
    assert doc["applied"] == ["e1"] and doc["outbox"] == []
    assert [e.type for e in bus.published] == [EventType.APPEAL_TAKEN]


async def test_a_record_that_keeps_changing_raises_for_a_retry_later() -> None:
    db, records, _, bus = setup(races=MAX_ATTEMPTS)
    await db[RECORDS].insert_one({"_id": "a1", "status": "routed", "version": 0, "log": []})
    with pytest.raises(ConcurrentChange):
        await records.apply("e1", "a1", taken)
    doc = await db[RECORDS].find_one({"_id": "a1"})
    assert "taken" not in doc["log"] and "applied" not in doc and bus.published == []


async def test_an_applied_event_id_has_no_second_effect() -> None:
    db, records, _, bus = setup()
    await db[RECORDS].insert_one({"_id": "a1", "status": "routed", "version": 0, "log": []})
    calls: list[str] = []

    def decide(doc: Document | None) -> Change:
        calls.append("decided")
        return taken(doc)

    assert await records.apply("e1", "a1", decide) is not None
    assert await records.apply("e1", "a1", decide) is None
    doc = await db[RECORDS].find_one({"_id": "a1"})
    assert calls == ["decided"] and doc["log"] == ["taken"] and doc["version"] == 1
    assert len(bus.published) == 1
    # The guard alone refuses it too, without the read: a stale writer with the same event id.
    assert not await records.write("a1", taken(doc), read=doc, event_id="e1")


async def test_a_failed_publish_is_left_to_the_outbox_sweep() -> None:
    db, records, relay, bus = setup(failing=True)
    await db[RECORDS].insert_one({"_id": "a1", "status": "routed", "version": 0, "log": []})
    assert await records.apply("e1", "a1", taken) is not None  # stored: no error for the caller
    doc = await db[RECORDS].find_one({"_id": "a1"})
    assert doc["status"] == "in_work" and len(doc["outbox"]) == 1 and bus.published == []
    bus.failing = False
    assert await relay.sweep() == 1
    assert [e.type for e in bus.published] == [EventType.APPEAL_TAKEN]
    assert (await db[RECORDS].find_one({"_id": "a1"}))["outbox"] == []


async def test_a_redelivery_publishes_what_an_earlier_failed_publish_left() -> None:
    db, records, _, bus = setup(failing=True)
    await db[RECORDS].insert_one({"_id": "a1", "status": "routed", "version": 0, "log": []})
    await records.apply("e1", "a1", taken)
    bus.failing = False
    assert await records.apply("e1", "a1", taken) is None
    assert len(bus.published) == 1 and (await db[RECORDS].find_one({"_id": "a1"}))["outbox"] == []


async def test_an_empty_change_records_the_event_id_alone() -> None:
    db, records, _, bus = setup()
    await db[RECORDS].insert_one({"_id": "a1", "status": "routed", "version": 2})
    assert (await records.apply("e1", "a1", lambda doc: Change())) is not None
    doc = await db[RECORDS].find_one({"_id": "a1"})
    assert doc["applied"] == ["e1"] and doc["version"] == 2 and bus.published == []


async def test_a_missing_record_is_an_error_unless_the_event_creates_it() -> None:
    db, records, _, _bus = setup()
    with pytest.raises(LookupError):
        await records.apply("e1", "a1", taken)

    def create(doc: Document | None) -> Change:
        assert doc is None
        return Change(
            set={"status": "armed"}, unset=["due"], push={"log": "created"}, on_insert={"created": 1}
        )

    assert await records.apply("e1", "a1", create, creates=True) is not None
    doc = await db[RECORDS].find_one({"_id": "a1"})
    assert doc == {
        "_id": "a1",
        "created": 1,
        "status": "armed",
        "version": 1,
        "log": ["created"],
        "outbox": [],
        "applied": ["e1"],
    }


async def test_a_creating_event_on_an_existing_record_is_decided_on_that_record() -> None:
    db, records, _, bus = setup()
    await db[RECORDS].insert_one({"_id": "a1", "status": "routed", "version": 4, "log": []})
    seen: list[int | None] = []

    def routed_again(doc: Document | None) -> Change:
        seen.append(None if doc is None else doc["version"])
        return Change(set={"status": "armed"}, push={"log": "armed"}) if doc is None else taken(doc)

    assert await records.apply("e1", "a1", routed_again, creates=True) is not None
    doc = await db[RECORDS].find_one({"_id": "a1"})
    assert seen == [None, 4]  # tried as new, then decided on the record that was there
    assert doc["status"] == "in_work" and doc["log"] == ["taken"] and doc["version"] == 5
    assert [e.type for e in bus.published] == [EventType.APPEAL_TAKEN]
    assert await records.apply("e1", "a1", routed_again, creates=True) is None  # a redelivery
    assert len(bus.published) == 1 and doc["applied"] == ["e1"]


async def test_further_guards_and_an_unguarded_write() -> None:
    db, records, _, _ = setup()
    await db[RECORDS].insert_one({"_id": "a1", "status": "held", "version": 0})
    doc = await db[RECORDS].find_one({"_id": "a1"})
    assert not await records.write("a1", Change(set={"status": "routed"}), read=doc, where={"status": "x"})
    assert await records.write("a1", Change(set={"status": "routed"}), read=doc, where={"status": "held"})
    # A write that does not depend on the state: no version guard, the version still moves on.
    assert await records.write("a1", Change(set={"due": 1}), read=None, event_id="e2")
    assert not await records.write("a1", Change(set={"due": 2}), read=None, event_id="e2")
    assert not await records.write("zz", Change(set={"due": 2}), read=None)
    doc = await db[RECORDS].find_one({"_id": "a1"})
    assert doc["version"] == 2 and doc["due"] == 1 and doc["applied"] == ["e2"]
    # A record stored before `version` existed matches the guard `version: None`.
    await db[RECORDS].insert_one({"_id": "old", "revision": 4})
    old = await db[RECORDS].find_one({"_id": "old"})
    assert await records.write("old", Change(set={"status": "routed"}), read=old)
    assert (await db[RECORDS].find_one({"_id": "old"}))["version"] == 1


class CountingReads:
    """The records collection, counting `find_one` calls."""

    def __init__(self, inner: Any) -> None:
        self._inner, self.reads = inner, 0

    async def find_one(self, *args: Any, **kwargs: Any) -> Any:
        self.reads += 1
        return await self._inner.find_one(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def counting_setup() -> tuple[Any, Aggregate, CountingReads, RecordingBus]:
    db = InMemoryDatabase(mongomock.MongoClient(tz_aware=True)["aggregate"])
    bus, collection = RecordingBus(), CountingReads(db[RECORDS])

    class Db:
        def __getitem__(self, name: str) -> Any:
            return collection if name == RECORDS else db[name]

    relay = OutboxRelay(db, [RECORDS], bus)  # type: ignore[arg-type]
    return db, Aggregate(Db(), RECORDS, relay), collection, bus  # type: ignore[arg-type]


async def test_the_first_event_on_a_record_just_inserted_is_decided_without_a_read() -> None:
    db, records, collection, _bus = counting_setup()
    await records.insert(
        {"_id": "a1", "status": "routed", "version": 1, "log": [], "outbox": [], "applied": []}
    )
    assert await records.apply("e1", "a1", taken) is not None
    assert collection.reads == 0
    doc = await db[RECORDS].find_one({"_id": "a1"})
    assert doc["status"] == "in_work" and doc["version"] == 2 and doc["applied"] == ["e1"]
    assert await records.apply("e2", "a1", taken) is not None and collection.reads == 1  # read as usual


async def test_a_record_changed_since_its_insert_is_read_and_decided_again() -> None:
    db, records, collection, bus = counting_setup()
    await records.insert(
        {"_id": "a1", "status": "routed", "version": 1, "log": [], "outbox": [], "applied": []}
    )
    await db[RECORDS].update_one({"_id": "a1"}, {"$inc": {"version": 1}, "$push": {"log": "other"}})
    seen: list[list[str]] = []

    def decide(doc: Document | None) -> Change:
        assert doc is not None
        seen.append(list(doc["log"]))
        return taken(doc)

    assert await records.apply("e1", "a1", decide) is not None
    assert seen == [[], ["other"]] and collection.reads == 1  # the copy lost the race
    doc = await db[RECORDS].find_one({"_id": "a1"})
    assert doc["log"] == ["other", "taken"] and doc["version"] == 3 and len(bus.published) == 1


async def test_nothing_to_do_is_never_decided_on_the_copy_alone() -> None:
    db, records, collection, _ = counting_setup()
    await records.insert(
        {"_id": "a1", "status": "routed", "version": 1, "log": [], "outbox": [], "applied": []}
    )
    await db[RECORDS].update_one({"_id": "a1"}, {"$inc": {"version": 1}, "$set": {"status": "in_work"}})

    def take_once(doc: Document | None) -> Change:
        assert doc is not None
        return taken(doc) if doc["status"] == "routed" else Change()

    assert await records.apply("e1", "a1", take_once) is not None
    assert collection.reads == 1  # an empty decision on the copy was checked on the record
    doc = await db[RECORDS].find_one({"_id": "a1"})
    assert doc["status"] == "in_work" and doc["log"] == [] and doc["applied"] == ["e1"]
