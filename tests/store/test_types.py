"""Values round trip: tz-aware datetimes (UTC, millisecond precision), nested documents and
arrays, numbers, booleans, null; documents read or written are copies, never shared.

Pins every `created_at`/`updated_at`/`due_at`/`lease_until`/`not_before` the services store and
compare (both clients use `tz_aware=True`), `AppealClock.model_validate(doc)` and the other
models read back from stored documents, and the callers that keep using a document after
writing it (intake `store_new` publishes the inserted `doc`; routing `assignment` and catalogue
`changes` pop `_id` from what they read).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from libs.common.store import Database

MOSCOW = timezone(timedelta(hours=3))


async def test_aware_datetimes_come_back_aware_in_utc_truncated_to_milliseconds(db: Database) -> None:
    # BSON dates are UTC milliseconds ("BSON Types: Date"); tz_aware=True gives aware datetimes.
    at = datetime(2026, 3, 1, 12, 0, 5, 678901, tzinfo=UTC)
    await db["c"].insert_one({"_id": 1, "utc": at, "local": at.astimezone(MOSCOW)})
    found = await db["c"].find_one({"_id": 1})
    assert found is not None
    for key in ("utc", "local"):
        value = found[key]
        assert value.utcoffset() == timedelta(0)
        assert value == at.replace(microsecond=678000)
    assert await db["c"].count_documents({"utc": at.replace(microsecond=678000)}) == 1


async def test_dates_in_nested_documents_and_arrays_round_trip(db: Database) -> None:
    at = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    doc = {
        "_id": "a",
        "timers": {"answer": {"due_at": at, "fired": False}},
        "assignments": [{"received_at": at, "org": "o"}],
        "n": 3,
        "ratio": 0.5,
        "big": 2**40,
        "flag": True,
        "none": None,
        "tags": ["x", "y"],
        "empty": {},
    }
    await db["c"].insert_one(dict(doc))
    found = await db["c"].find_one({"_id": "a"})
    assert found == doc
    assert found is not None
    # PyMongo decodes a BSON int64 as `bson.Int64`, an int subclass; an int32 as int.
    assert [type(found[k]) for k in ("n", "ratio", "flag")] == [int, float, bool]
    assert isinstance(found["big"], int) and found["big"] == 2**40


async def test_documents_read_are_copies(db: Database) -> None:
    await db["c"].insert_one({"_id": "a", "applied": ["e1"], "nested": {"k": 1}})
    first = await db["c"].find_one({"_id": "a"})
    assert first is not None
    first.pop("_id")
    first["applied"].append("e2")
    first["nested"]["k"] = 2
    listed = await db["c"].find({}).to_list(None)
    listed[0]["applied"].clear()
    assert await db["c"].find_one({"_id": "a"}) == {"_id": "a", "applied": ["e1"], "nested": {"k": 1}}


async def test_documents_written_are_copied(db: Database) -> None:
    doc = {"_id": "a", "outbox": [{"id": "e1"}]}
    await db["c"].insert_one(doc)
    doc["outbox"].append({"id": "late"})
    entry = {"id": "e2"}
    await db["c"].update_one({"_id": "a"}, {"$push": {"outbox": entry}})
    entry["id"] = "changed"
    assert await db["c"].find_one({"_id": "a"}) == {"_id": "a", "outbox": [{"id": "e1"}, {"id": "e2"}]}
