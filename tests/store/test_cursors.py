"""Cursor methods: `sort` (one key, key lists, directions, nulls), `skip`, `limit`, `to_list`
(with a length, `None`, no argument) and `async for`.

Pins:
- intake `page` (count + sort by [(due_at, 1), (created_at, 1)] or [(created_at, -1)] + skip +
  limit + to_list(limit)), open311 list (sort created_at -1, limit);
- deadlines `claim_due` (find projection + sort next_due_at + limit + to_list(limit)),
  `assignments` (`async for` over a find);
- notify feed page (sort [(created_at, -1), (_id, -1)] + skip + limit), failed deliveries
  (sort [(failed_at, -1), (_id, 1)]), due deliveries (sort not_before + limit + to_list()), push
  subscriptions (sort created_at -1, to_list()), webhooks (sort created_at 1);
- media `sweep_orphans` (limit + to_list(None)), `check_allowance` (sort + limit(1) + to_list(1));
- routing catalogue (sort by a key string, `changes` sort _id -1 + skip + limit), moderation
  queue and clusters pages (sort + skip + limit).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING

from libs.common.store import Database

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def _seed(db: Database) -> None:
    await db["c"].insert_many(
        [
            {"_id": "a", "due_at": T0 + timedelta(days=2), "created_at": T0},
            {"_id": "b", "due_at": None, "created_at": T0 + timedelta(hours=1)},
            {"_id": "c", "due_at": T0 + timedelta(days=1), "created_at": T0 + timedelta(hours=2)},
            {"_id": "d", "created_at": T0 + timedelta(hours=3)},
            {"_id": "e", "due_at": T0 + timedelta(days=1), "created_at": T0 + timedelta(hours=4)},
        ]
    )


async def order(cursor: Any) -> list[object]:
    return [doc["_id"] async for doc in cursor]


async def test_sort_by_one_key_both_directions(db: Database) -> None:
    await _seed(db)
    assert await order(db["c"].find({}).sort("created_at", ASCENDING)) == ["a", "b", "c", "d", "e"]
    assert await order(db["c"].find({}).sort("created_at", DESCENDING)) == ["e", "d", "c", "b", "a"]
    assert await order(db["c"].find({}).sort("_id", -1)) == ["e", "d", "c", "b", "a"]
    # A key string alone sorts ascending (routing catalogue: `.sort(KEYS[entity])`).
    assert await order(db["c"].find({}).sort("_id")) == ["a", "b", "c", "d", "e"]


async def test_sort_by_a_list_of_keys_with_nulls_and_missing_first(db: Database) -> None:
    # "Comparison/Sort Order": null (and a missing field, compared as null) sorts before dates
    # ascending, after them descending; ties go to the next key.
    await _seed(db)
    queue = db["c"].find({}).sort([("due_at", ASCENDING), ("created_at", ASCENDING)])
    assert await order(queue) == ["b", "d", "c", "e", "a"]
    reverse = db["c"].find({}).sort([("due_at", DESCENDING), ("created_at", DESCENDING)])
    assert await order(reverse) == ["a", "e", "c", "d", "b"]


async def test_ties_broken_by_id(db: Database) -> None:
    await db["feed"].insert_many(
        [{"_id": f"n{i}", "created_at": T0 + timedelta(hours=i // 2)} for i in range(6)]
    )
    newest = db["feed"].find({}).sort([("created_at", DESCENDING), ("_id", DESCENDING)])
    assert await order(newest) == ["n5", "n4", "n3", "n2", "n1", "n0"]
    mixed = db["feed"].find({}).sort([("created_at", DESCENDING), ("_id", ASCENDING)])
    assert await order(mixed) == ["n4", "n5", "n2", "n3", "n0", "n1"]


async def test_skip_and_limit_page_through_a_sorted_result(db: Database) -> None:
    await _seed(db)

    async def page(offset: int, limit: int) -> list[object]:
        docs = await db["c"].find({}).sort("created_at", DESCENDING).skip(offset).limit(limit).to_list(limit)
        return [doc["_id"] for doc in docs]

    assert await page(0, 2) == ["e", "d"]
    assert await page(2, 2) == ["c", "b"]
    assert await page(4, 2) == ["a"]
    assert await page(6, 2) == []


async def test_limit_then_to_list_none_and_without_argument(db: Database) -> None:
    await _seed(db)
    found = await db["c"].find({"created_at": {"$gte": T0}}, {"_id": 1}).limit(3).to_list(None)
    assert len(found) == 3 and all(set(doc) == {"_id"} for doc in found)
    assert len(await db["c"].find({}).to_list()) == 5
    assert len(await db["c"].find({}).to_list(None)) == 5
    oldest = await db["c"].find({}, {"created_at": 1}).sort("created_at", 1).limit(1).to_list(1)
    assert oldest == [{"_id": "a", "created_at": T0}]


async def test_to_list_length_caps_the_result(db: Database) -> None:
    await _seed(db)
    assert len(await db["c"].find({}).to_list(2)) == 2


async def test_sort_then_limit_takes_the_first_after_sorting(db: Database) -> None:
    # The sort applies before the limit whatever order the methods are called in.
    await _seed(db)
    docs = await db["c"].find({}).limit(2).sort("created_at", DESCENDING).to_list(None)
    assert [doc["_id"] for doc in docs] == ["e", "d"]


async def test_async_iteration_and_empty_results(db: Database) -> None:
    await _seed(db)
    assert sorted([doc["_id"] async for doc in db["c"].find({"due_at": {"$ne": None}})]) == ["a", "c", "e"]
    assert [doc async for doc in db["c"].find({"_id": "zz"})] == []
    assert await db["c"].find({"_id": "zz"}).to_list(None) == []
