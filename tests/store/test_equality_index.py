"""Equalities on the first field of a declared index, as routing's cluster query and repeat check
ask them, beside every other shape of the field.

The local store process lets SQLite read only the rows whose `json_extract(document, '$.<field>')`
equals the operand, through an expression index it adds for each declared index's first field
(devstack/docstore_index.py); SQLite still evaluates the whole filter on those rows. These cases
hold the field missing, null, an array holding the value, a number, another case of the text and
an embedded document, in this collection and in a sibling sharing the index, so the result must
still be MongoDB's whether the index was declared before or after the documents were written.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import ASCENDING, DESCENDING

from libs.common.store import Database

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)

SHAPES: list[dict[str, Any]] = [
    {"_id": 1, "topic": "roads", "status": "routed"},
    {"_id": 2, "topic": "water", "status": "routed"},
    {"_id": 3, "status": "routed"},
    {"_id": 4, "topic": None, "status": "routed"},
    {"_id": 5, "topic": ["parks", "roads"], "status": "routed"},
    {"_id": 6, "topic": 7, "status": "routed"},
    {"_id": 7, "topic": "Roads", "status": "routed"},
    {"_id": 8, "topic": {"name": "roads"}, "status": "routed"},
    {"_id": 9, "topic": "roads", "status": "held"},
    {"_id": 10, "topic": "roads"},
]


async def _ids(db: Database, query: dict[str, Any], collection: str = "c") -> list[Any]:
    # unsorted: MongoDB defines no order, the callers sort for themselves
    found = [doc["_id"] async for doc in db[collection].find(query, {"_id": 1})]
    return sorted(found, key=lambda v: (type(v).__name__, v))


async def _declare(db: Database, collection: str = "c") -> None:
    await db[collection].create_index([("topic", ASCENDING), ("submitted_at", ASCENDING)])
    await db[collection].create_index([("status", ASCENDING), ("submitted_at", ASCENDING)])


@pytest.mark.parametrize("declared_first", [True, False])
async def test_an_equality_on_an_indexed_field_matches_every_shape_as_mongodb(
    db: Database, declared_first: bool
) -> None:
    if declared_first:
        await _declare(db)
    await db["c"].insert_many(SHAPES)
    await db["other"].insert_many([{"_id": "o1", "topic": "roads", "status": "routed"}])
    if not declared_first:
        await _declare(db)

    # an array holding the value matches; no other shape does, nor the sibling collection
    assert await _ids(db, {"topic": "roads"}) == [1, 5, 9, 10]
    assert await _ids(db, {"topic": "roads", "status": "routed"}) == [1, 5]
    assert await _ids(db, {"topic": None}) == [3, 4]
    assert await _ids(db, {"topic": 7}) == [6]
    assert await _ids(db, {"topic": {"name": "roads"}}) == [8]
    assert await _ids(db, {"topic": "roads"}, "other") == ["o1"]


async def test_an_equality_on_a_field_without_arrays_keeps_every_shape_apart(db: Database) -> None:
    # no array at `topic`: the store's SQL then compares the plain value the index holds
    await _declare(db)
    await db["c"].insert_many([doc for doc in SHAPES if doc["_id"] != 5])

    assert await _ids(db, {"topic": "roads"}) == [1, 9, 10]
    assert await _ids(db, {"topic": "roads", "status": {"$in": ["routed", "held"]}}) == [1, 9]
    assert await _ids(db, {"topic": {"$ne": "roads"}}) == [2, 3, 4, 6, 7, 8]

    await db["c"].update_one({"_id": 2}, {"$set": {"topic": "roads"}})
    await db["c"].update_one({"_id": 1}, {"$unset": {"topic": ""}})
    await db["c"].delete_one({"_id": 9})

    assert await _ids(db, {"topic": "roads"}) == [2, 10]


def _assignment(i: int, **fields: Any) -> dict[str, Any]:
    return {
        "_id": f"a{i}",
        "author_id": "u1",
        "resident": "u1",
        "fingerprint": "fp",
        "status": "routed",
        "topic": "roads",
        "submitted_at": NOW - timedelta(minutes=i),
        **fields,
    }


async def test_routings_repeat_check_finds_both_branches_and_nothing_else(db: Database) -> None:
    assignments = db["assignments"]
    await assignments.create_index(
        [("author_id", ASCENDING), ("fingerprint", ASCENDING), ("submitted_at", DESCENDING)]
    )
    await assignments.create_index(
        [("resident", ASCENDING), ("topic", ASCENDING), ("answered_at", DESCENDING)]
    )
    await assignments.insert_many(
        [
            _assignment(0),  # the new one itself: left out by `_id`
            _assignment(1),  # the duplicate
            _assignment(2, status="held"),  # a duplicate too
            _assignment(3, answered_at=NOW - timedelta(days=1)),  # answered: the second branch
            _assignment(4, answered_at=None),  # null is not absent, and before the window
            _assignment(5, author_id="u2", resident="u2"),
            _assignment(6, author_id=["u1", "u3"], fingerprint="fp"),  # an array holding u1
            _assignment(7, resident="u1", topic="water", answered_at=NOW),
            _assignment(8, fingerprint="other"),
            _assignment(9, submitted_at=NOW - timedelta(days=2)),  # outside the spam window
            _assignment(10, status="rejected"),
            {"_id": "a11", "resident": "u1", "topic": "roads", "answered_at": NOW},  # nothing else
        ]
    )
    duplicate = {
        "author_id": "u1",
        "fingerprint": "fp",
        "status": {"$in": ["routed", "held"]},
        "answered_at": {"$exists": False},
        "submitted_at": {"$gte": NOW - timedelta(days=1)},
        "_id": {"$ne": "a0"},
    }
    answered = {
        "resident": "u1",
        "topic": "roads",
        "answered_at": {"$gte": NOW - timedelta(days=30)},
        "_id": {"$ne": "a0"},
    }

    assert await _ids(db, {"$or": [duplicate, answered]}, "assignments") == ["a1", "a11", "a2", "a3", "a6"]
    assert await _ids(db, duplicate, "assignments") == ["a1", "a2", "a6"]
    assert await _ids(db, answered, "assignments") == ["a11", "a3"]
