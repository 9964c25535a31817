"""A value that changes a query planner's answer, written after that answer was given, still
gives MongoDB's result.

The local store process keeps the engine's answers to "does a path of this collection cross an
array", "does a field hold another type than the operand" and "do all documents hold one scalar
type at this sort field" until a document that could change them is written
(devstack/docstore_patch.py). Each case asks first (so the answer is kept), writes such a value,
then asks again; each fails against the store if the patch stops noticing that kind of value.
The last two cases write what sends a sort to Python (an embedded document, an array, an int64).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from bson import Int64
from pymongo import ASCENDING, DESCENDING

from libs.common.store import Database


async def _ids(db: Database, query: dict[str, object], **kwargs: object) -> list[object]:
    return [doc["_id"] async for doc in db["c"].find(query, **kwargs)]


async def test_an_array_written_on_a_dotted_path_is_traversed(db: Database) -> None:
    await db["c"].insert_many([{"_id": 1, "a": {"b": 1}}, {"_id": 2, "a": {"b": 5}}])
    assert await _ids(db, {"a.b": {"$gte": 3}}) == [2]

    await db["c"].insert_one({"_id": 3, "a": [{"b": 0}, {"b": 9}]})
    await db["c"].update_one({"_id": 1}, {"$set": {"a": [{"b": 4}]}})

    assert await _ids(db, {"a.b": {"$gte": 3}}) == [1, 2, 3]
    assert await _ids(db, {"a.b": 0}) == [3]


async def test_an_array_written_on_a_dotted_sort_path_sorts_by_its_largest_element(wire_db: Database) -> None:
    # the unit-test fake sorts by an array's first element
    db = wire_db
    await db["c"].insert_many([{"_id": 1, "a": {"b": 1}}, {"_id": 2, "a": {"b": 5}}])
    assert await _ids(db, {}, sort=[("a.b", DESCENDING)]) == [2, 1]

    await db["c"].insert_one({"_id": 3, "a": [{"b": 0}, {"b": 9}]})

    # descending sorts an array by its largest element
    assert await _ids(db, {}, sort=[("a.b", DESCENDING)]) == [3, 2, 1]


async def test_an_int64_written_where_doubles_were_is_compared_numerically(db: Database) -> None:
    await db["c"].insert_many([{"_id": 1, "n": 1}, {"_id": 2, "n": 5}])
    assert await _ids(db, {"n": {"$gt": 3}}) == [2]

    await db["c"].insert_one({"_id": 3, "n": Int64(9)})

    assert await _ids(db, {"n": {"$gt": 3}}) == [2, 3]
    assert await _ids(db, {"n": {"$lte": 3}}) == [1]


async def test_a_number_or_a_missing_field_written_among_strings_sorts_first(db: Database) -> None:
    await db["c"].create_index("v")
    await db["c"].insert_many([{"_id": 1, "v": "b"}, {"_id": 2, "v": "a"}])
    assert await _ids(db, {}, sort=[("v", ASCENDING)]) == [2, 1]

    await db["c"].insert_many([{"_id": 3, "v": 7}, {"_id": 4}])

    # BSON order: missing (as null) < numbers < strings
    assert await _ids(db, {}, sort=[("v", ASCENDING)]) == [4, 3, 2, 1]
    assert await _ids(db, {}, sort=[("v", DESCENDING)]) == [1, 2, 3, 4]


async def test_an_embedded_document_or_array_written_at_a_sort_field_sorts_by_bson_order(
    db: Database,
) -> None:
    await db["c"].insert_many([{"_id": 1, "v": "b"}, {"_id": 2, "v": "a"}])
    assert await _ids(db, {"_id": {"$gte": 1}}, sort=[("v", ASCENDING)]) == [2, 1]

    await db["c"].insert_many([{"_id": 3, "v": {"x": 1}}, {"_id": 4, "v": [9, "c"]}])

    # an embedded document sorts after strings; an array ascending by its smallest element (9)
    assert await _ids(db, {"_id": {"$gte": 1}}, sort=[("v", ASCENDING)]) == [4, 2, 1, 3]


async def test_an_int64_written_among_datetimes_at_a_sort_field_sorts_first(wire_db: Database) -> None:
    # the unit-test fake keeps no BSON int64 type apart; the services store none
    db = wire_db
    day = datetime(2026, 1, 1, tzinfo=UTC)
    await db["c"].insert_many([{"_id": 1, "t": day.replace(day=2)}, {"_id": 2, "t": day}])
    assert await _ids(db, {"_id": {"$gte": 1}}, sort=[("t", ASCENDING)]) == [2, 1]

    await db["c"].insert_one({"_id": 3, "t": Int64(2**40)})

    # BSON order: numbers before dates
    assert await _ids(db, {"_id": {"$gte": 1}}, sort=[("t", ASCENDING)]) == [3, 2, 1]


@pytest.mark.mongoeco_departure("a comparison matches other types in BSON order once any document holds one")
async def test_a_comparison_matches_only_values_of_the_operands_type(db: Database) -> None:
    await db["c"].insert_many(
        [{"_id": 1, "n": 1}, {"_id": 2, "n": 5}, {"_id": 3, "n": "9"}, {"_id": 4, "n": True}]
    )

    # type bracketing: a string or a boolean is neither greater nor smaller than a number
    assert await _ids(db, {"n": {"$gt": 3}}) == [2]
