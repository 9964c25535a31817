"""More values that change a query planner's answer, written after that answer was given.

The local store process keeps the engine's answers to "does a DBRef lie along this dotted path",
"does a document hold an array at this dotted path" and "does any document hold an array, an
embedded document or an int64 at this sort field" until a document that could change them is
written (devstack/docstore_checks.py). Each case asks first, writes such a value, then asks
again; each fails against the store if the patch stops noticing that kind of value.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import DBRef, Int64
from pymongo import ASCENDING, DESCENDING

from libs.common.store import Database

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


async def _ids(db: Database, query: dict[str, Any], **kwargs: Any) -> list[Any]:
    return [doc["_id"] async for doc in db["c"].find(query, {"_id": 1}, **kwargs)]


async def test_a_dbref_written_along_a_dotted_path_is_looked_into(wire_db: Database) -> None:
    # the unit-test fake keeps a DBRef whole; MongoDB stores it as {$ref, $id, ...fields}
    db = wire_db
    await db["c"].insert_one({"_id": 1, "a": {"b": 7}})
    assert await _ids(db, {"a.b": 7}) == [1]

    await db["c"].insert_one({"_id": 2, "a": DBRef("x", 1, b=7)})

    assert sorted(await _ids(db, {"a.b": 7})) == [1, 2]


async def test_an_array_written_at_a_dotted_path_is_compared_by_its_elements(db: Database) -> None:
    await db["c"].insert_many([{"_id": 1, "a": {"b": 1}}, {"_id": 2, "a": {"b": 5}}])
    assert await _ids(db, {"a.b": {"$gte": 3}}) == [2]

    await db["c"].insert_one({"_id": 3, "a": {"b": [0, 9]}})

    assert sorted(await _ids(db, {"a.b": {"$gte": 3}})) == [2, 3]
    assert sorted(await _ids(db, {"a.b": {"$lt": 3}})) == [1, 3]


async def test_a_leases_due_query_sorts_as_mongodb_when_a_sub_document_is_written_later(
    db: Database,
) -> None:
    # the deadlines' claim (libs/common/leases.py): due, not leased, earliest first
    due = {
        "next_due_at": {"$lte": NOW},
        "$or": [{"lease_until": {"$exists": False}}, {"lease_until": {"$lte": NOW}}],
    }
    await db["c"].create_index([("next_due_at", ASCENDING)], sparse=True)
    await db["c"].insert_many(
        [
            {"_id": 1, "next_due_at": NOW - timedelta(hours=1)},
            {"_id": 2, "next_due_at": NOW - timedelta(hours=3)},
            {"_id": 3, "next_due_at": NOW - timedelta(hours=2), "lease_until": NOW + timedelta(minutes=5)},
            {"_id": 4, "next_due_at": NOW + timedelta(hours=1)},
            {"_id": 5},
        ]
    )
    assert await _ids(db, due, sort=[("next_due_at", ASCENDING)]) == [2, 1]

    # leased, so outside the filter, but what the sort's row check looks for
    await db["c"].insert_one(
        {"_id": 6, "next_due_at": {"at": "later"}, "lease_until": NOW + timedelta(hours=1)}
    )
    await db["c"].insert_one({"_id": 7, "next_due_at": NOW - timedelta(hours=4)})

    assert await _ids(db, due, sort=[("next_due_at", ASCENDING)]) == [7, 2, 1]
    assert await _ids(db, due, sort=[("next_due_at", DESCENDING)], limit=2) == [1, 2]


async def test_an_array_or_int64_written_at_a_sort_field_of_matching_documents_sorts_by_bson_order(
    wire_db: Database,
) -> None:
    # the unit-test fake sorts an array by its first element
    db = wire_db
    await db["c"].insert_many([{"_id": 1, "k": "x", "v": 2.5}, {"_id": 2, "k": "x", "v": 1.5}])
    assert await _ids(db, {"k": "x"}, sort=[("v", ASCENDING)]) == [2, 1]

    await db["c"].insert_one({"_id": 3, "k": "x", "v": [9, 0.5]})  # ascending: its smallest, 0.5
    await db["c"].insert_one({"_id": 4, "k": "x", "v": Int64(2)})

    assert await _ids(db, {"k": "x"}, sort=[("v", ASCENDING)]) == [3, 2, 4, 1]
    assert await _ids(db, {"k": "x"}, sort=[("v", DESCENDING)]) == [3, 1, 4, 2]


async def test_a_datetime_range_seeks_only_while_every_value_there_is_a_datetime(db: Database) -> None:
    # while every document holds a datetime or nothing at `t`, the store adds the range as an
    # index seek (devstack/docstore_index.py); a null written later must end that
    await db["c"].create_index([("t", ASCENDING)], sparse=True)
    await db["c"].insert_many(
        [{"_id": 1, "t": NOW - timedelta(hours=1)}, {"_id": 2, "t": NOW + timedelta(hours=1)}, {"_id": 3}]
    )
    assert await _ids(db, {"t": {"$lte": NOW}}, sort=[("t", ASCENDING)]) == [1]
    assert sorted(await _ids(db, {"t": {"$gt": NOW - timedelta(hours=2)}, "_id": {"$lt": 3}})) == [1, 2]

    await db["c"].insert_one({"_id": 4, "t": NOW - timedelta(hours=3)})
    await db["c"].update_one({"_id": 2}, {"$set": {"t": NOW - timedelta(hours=2)}})

    assert await _ids(db, {"t": {"$lte": NOW}}, sort=[("t", ASCENDING)]) == [4, 2, 1]
    assert sorted(await _ids(db, {"t": {"$lt": NOW - timedelta(hours=1)}, "_id": {"$ne": 9}})) == [2, 4]


@pytest.mark.mongoeco_departure("a datetime range also matches a null, a number or a string (BSON order)")
async def test_a_datetime_range_written_a_null_or_number_later_still_matches_only_datetimes(
    db: Database,
) -> None:
    # strict xfail on the local store: it must keep mongoeco's own answer, so this case also
    # fails there if the patch's seek (which would leave the null out) outlived the null
    await db["c"].create_index([("t", ASCENDING)], sparse=True)
    await db["c"].insert_many([{"_id": 1, "t": NOW - timedelta(hours=1)}, {"_id": 2}])
    assert await _ids(db, {"t": {"$lte": NOW}}) == [1]

    await db["c"].insert_one({"_id": 3, "t": None})
    await db["c"].update_one({"_id": 2}, {"$set": {"t": 5}})

    assert await _ids(db, {"t": {"$lte": NOW}}) == [1]


async def test_a_sort_field_emptied_of_datetimes_and_filled_with_numbers_sorts_numerically(
    db: Database,
) -> None:
    # "no one scalar type" at a field that held datetimes is kept after they are deleted: the
    # store then sorts on its general path, which must still be MongoDB's order
    await db["c"].insert_many([{"_id": 1, "v": NOW}, {"_id": 2, "v": NOW - timedelta(hours=1)}])
    assert await _ids(db, {}, sort=[("v", ASCENDING)]) == [2, 1]

    await db["c"].delete_many({})
    await db["c"].insert_many([{"_id": 3, "v": 2}, {"_id": 4, "v": 1}, {"_id": 5, "v": 1.5}])

    assert await _ids(db, {}, sort=[("v", ASCENDING)]) == [4, 5, 3]
    assert await _ids(db, {"v": {"$gte": 1.5}}, sort=[("v", DESCENDING)]) == [3, 5]
