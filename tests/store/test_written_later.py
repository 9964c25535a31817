"""A value of a new kind written after queries have run is still found, and _id stays unique.

The local store process settles its "does any document hold an array / a Decimal128 / bytes at this
field" answers until a value of that kind is written (devstack/docstore_patch.py), and skips the
numeric _id scan for string and ObjectId ids. These cases ask first (so a "no" is settled), then
write the new kind, then ask again: MongoDB's documented result both times.
"""

from __future__ import annotations

import pytest
from bson import Binary, Decimal128, ObjectId
from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from libs.common.store import Database


async def _ids(db: Database, query: dict[str, object], **kwargs: object) -> list[object]:
    return [doc["_id"] async for doc in db["c"].find(query, **kwargs)]


async def test_array_written_after_an_indexed_equality_is_matched_by_element(db: Database) -> None:
    await db["c"].create_index("tags")
    await db["c"].insert_many([{"_id": "a", "tags": "x"}, {"_id": "b", "tags": "y"}])
    assert await _ids(db, {"tags": "x"}) == ["a"]

    await db["c"].insert_one({"_id": "c", "tags": ["z", "x"]})
    await db["c"].update_one({"_id": "b"}, {"$set": {"tags": ["x"]}})

    assert sorted(await _ids(db, {"tags": "x"})) == ["a", "b", "c"]
    assert await db["c"].find_one({"tags": "z"}, {"_id": 1}) == {"_id": "c"}


async def test_array_written_after_a_not_equal_query_is_excluded_by_element(db: Database) -> None:
    await db["c"].insert_many([{"_id": 1, "media_ids": "m1"}, {"_id": 2, "media_ids": "m2"}])
    assert await _ids(db, {"media_ids": {"$ne": "m1"}}) == [2]

    await db["c"].insert_one({"_id": 3, "media_ids": ["m3", "m1"]})
    await db["c"].update_one({"_id": 2}, {"$push": {"other": "x"}, "$set": {"media_ids": ["m1"]}})

    assert await _ids(db, {"media_ids": {"$ne": "m1"}}) == []
    assert await _ids(db, {"media_ids": {"$nin": ["m2", "m3"]}}) == [1, 2]


async def test_array_written_after_a_compound_equality_is_matched_by_element(db: Database) -> None:
    query = {"media_ids": "m2", "organization.id": "o"}
    await db["c"].insert_many([{"_id": 1, "media_ids": "m2", "organization": {"id": "o"}}, {"_id": 2}])
    assert await _ids(db, query) == [1]

    await db["c"].insert_one({"_id": 3, "media_ids": ["m1", "m2"], "organization": {"id": "o"}})
    await db["c"].update_one({"_id": 2}, {"$set": {"media_ids": ["m2"], "organization": {"id": "o"}}})

    assert await _ids(db, query) == [1, 2, 3]


async def test_array_set_after_a_range_query_is_compared_by_element(db: Database) -> None:
    await db["c"].create_index("n")
    await db["c"].insert_many([{"_id": 1, "n": 1}, {"_id": 2, "n": 5}])
    assert await _ids(db, {"n": {"$gt": 3}}) == [2]

    await db["c"].update_one({"_id": 1}, {"$set": {"n": [0, 9]}})

    assert sorted(await _ids(db, {"n": {"$gt": 3}})) == [1, 2]


async def test_decimal128_written_after_a_query_is_compared_numerically(wire_db: Database) -> None:
    # the unit-test fake cannot compare Decimal128 at all; no service stores one
    db = wire_db
    await db["c"].insert_many([{"_id": 1, "amount": 1}, {"_id": 2, "amount": 3}])
    assert await _ids(db, {"amount": {"$gte": 2}}) == [2]

    assert await _ids(db, {"amount": 3, "kind": None}) == [2]
    await db["c"].insert_many(
        [{"_id": 3, "amount": Decimal128("2.5")}, {"_id": 4, "amount": Decimal128("3")}]
    )

    assert sorted(await _ids(db, {"amount": {"$gte": 2}})) == [2, 3, 4]
    assert sorted(await _ids(db, {"amount": 3, "kind": None})) == [2, 4]


async def test_bytes_written_after_a_sort_are_sorted_after_strings(db: Database) -> None:
    await db["c"].insert_many([{"_id": 1, "v": "b"}, {"_id": 2, "v": "a"}])
    assert await _ids(db, {}, sort=[("v", ASCENDING)]) == [2, 1]

    await db["c"].insert_one({"_id": 3, "v": Binary(b"\x00")})

    # BSON order: strings before binary data
    assert await _ids(db, {}, sort=[("v", ASCENDING)]) == [2, 1, 3]


@pytest.mark.parametrize(
    ("first", "second"), [("k", "k"), (ObjectId("0123456789ab0123456789ab"),) * 2, (1, 1.0)]
)
async def test_a_second_insert_of_an_equal_id_is_a_duplicate_key(
    db: Database, first: object, second: object
) -> None:
    await db["c"].insert_one({"_id": first})

    with pytest.raises(DuplicateKeyError):
        await db["c"].insert_one({"_id": second})
    assert await db["c"].count_documents({}) == 1
