"""`{"a.b": {"$exists": true}}` where `a` may be an array: the outbox sweep's query.

The local store process reads only the documents whose `a` is an embedded document or a
non-empty array before its Python match (devstack/docstore_patch.py), found through a partial
index of exactly those documents once an index on a dotted path is declared
(devstack/docstore_index.py); these cases hold every other shape of `a` beside them, so the
result must still be MongoDB's.
"""

from __future__ import annotations

from typing import Any

from libs.common.store import Database

SHAPES: list[dict[str, object]] = [
    {"_id": 1},
    {"_id": 2, "outbox": []},
    {"_id": 3, "outbox": [{"id": "e1", "type": "t"}]},
    {"_id": 4, "outbox": "scalar"},
    {"_id": 5, "outbox": [{"type": "no id"}]},
    {"_id": 6, "outbox": {"id": "e2"}},
    {"_id": 7, "outbox": [{"type": "t"}, {"id": None}]},
    {"_id": 8, "outbox": None},
    {"_id": 9, "outbox": {}},
    {"_id": 10, "outbox": [1, "x"]},
]


async def _ids(db: Database, query: dict[str, object]) -> list[Any]:
    return [doc["_id"] async for doc in db["c"].find(query, {"_id": 1})]


async def test_a_dotted_exists_matches_an_element_or_embedded_field_of_any_value(db: Database) -> None:
    await db["c"].create_index("outbox.id", sparse=True)
    await db["c"].insert_many(SHAPES)

    assert sorted(await _ids(db, {"outbox.id": {"$exists": True}})) == [3, 6, 7]


async def test_a_dotted_exists_in_an_and_keeps_both_conditions(db: Database) -> None:
    await db["c"].insert_many(SHAPES)

    assert sorted(await _ids(db, {"outbox.id": {"$exists": True}, "_id": {"$gte": 5}})) == [6, 7]
    assert sorted(await _ids(db, {"$and": [{"outbox.type": {"$exists": True}}, {"_id": {"$ne": 3}}]})) == [
        5,
        7,
    ]


async def test_a_pulled_outbox_entry_leaves_the_sweep_and_a_pushed_one_joins_it(db: Database) -> None:
    await db["c"].create_index("outbox.id", sparse=True)  # the local store's partial index follows writes
    await db["c"].insert_many([{"_id": "a", "outbox": [{"id": "e1"}]}, {"_id": "b", "outbox": []}])
    assert await _ids(db, {"outbox.id": {"$exists": True}}) == ["a"]

    await db["c"].update_one({"_id": "a"}, {"$pull": {"outbox": {"id": {"$in": ["e1"]}}}})
    await db["c"].update_one({"_id": "b"}, {"$push": {"outbox": {"id": "e2"}}})

    assert await _ids(db, {"outbox.id": {"$exists": True}}) == ["b"]
    assert await db["c"].count_documents({"outbox.id": {"$exists": True}}) == 1
