"""Indexes and `DuplicateKeyError`: unique, unique + sparse, sparse, compound (mixed directions,
dotted paths), indexes on array fields (multikey), TTL (`expireAfterSeconds`), `_id`.

Pins every `ensure_indexes` of the services and the duplicate handling that relies on them:
- intake: `number` unique, `idempotency_scope` unique + sparse (set only with an Idempotency-Key),
  [(author_id, 1), (created_at, -1)], [(organization.id, 1), (status, 1), (due_at, 1)],
  `media_ids` (array); rate limits `expires_at` TTL 0; DuplicateKeyError of `insert_one`;
- media: `dedup_key` unique + sparse (removed with $unset on attach, never stored as null),
  compound owner/appeal indexes, tombstones `deleted_at` TTL 30 days;
- deadlines: [(next_due_at, 1)] sparse, `assignments.received_at` (array of subdocuments); a
  concurrent create of the same `_id` raises DuplicateKeyError;
- the outbox relay: `outbox.id` sparse; notify feed/push/webhook/delivery compound indexes,
  `org_id` sparse; routing assignment and cluster indexes, `members` (array), rules `topic`;
- routing/clusters/catalogue changes: an `_id` inserted twice raises DuplicateKeyError;
- polls: [(poll_id, 1), (voter_id, 1)] unique (one ballot per voter), [(close_due_at, 1)] sparse;
  notify's poll subscriptions `area_ids` (array).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

from libs.common.store import Database

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _keys(info: dict[str, Any], name: str) -> list[tuple[str, int]]:
    return [(field, int(direction)) for field, direction in info[name]["key"]]


async def test_duplicate_id_raises_duplicate_key_error(db: Database) -> None:
    await db["c"].insert_one({"_id": "a", "n": 1})
    with pytest.raises(DuplicateKeyError) as caught:
        await db["c"].insert_one({"_id": "a", "n": 2})
    assert caught.value.code == 11000
    assert await db["c"].find_one({"_id": "a"}) == {"_id": "a", "n": 1}


async def test_unique_index_refuses_a_duplicate_on_insert_and_update(db: Database) -> None:
    name = await db["appeals"].create_index("number", unique=True)
    assert name == "number_1"
    await db["appeals"].insert_one({"_id": 1, "number": "2026-000001"})
    await db["appeals"].insert_one({"_id": 2, "number": "2026-000002"})
    with pytest.raises(DuplicateKeyError):
        await db["appeals"].insert_one({"_id": 3, "number": "2026-000001"})
    with pytest.raises(DuplicateKeyError):
        await db["appeals"].update_one({"_id": 2}, {"$set": {"number": "2026-000001"}})
    # The failed writes left nothing behind.
    assert await db["appeals"].find({}).sort("_id", 1).to_list(None) == [
        {"_id": 1, "number": "2026-000001"},
        {"_id": 2, "number": "2026-000002"},
    ]


async def test_unique_index_allows_one_document_without_the_field(db: Database) -> None:
    # "Unique Index and Missing Field": the index stores null for a document lacking the field,
    # so only one document may lack it.
    await db["c"].create_index("number", unique=True)
    await db["c"].insert_one({"_id": 1})
    with pytest.raises(DuplicateKeyError):
        await db["c"].insert_one({"_id": 2})


@pytest.mark.mongoeco_departure("a unique index keeps a missing field and a null value apart")
async def test_unique_index_missing_field_and_null_collide(db: Database) -> None:
    # Same rule: the missing field is indexed as null, so a null value duplicates it.
    await db["c"].create_index("number", unique=True)
    await db["c"].insert_one({"_id": 1})
    with pytest.raises(DuplicateKeyError):
        await db["c"].insert_one({"_id": 3, "number": None})


async def test_unique_sparse_index_allows_many_missing_but_not_duplicate_values(db: Database) -> None:
    # "Sparse and Unique Properties": duplicates are refused; documents omitting the key are not.
    await db["media"].create_index("dedup_key", unique=True, sparse=True)
    await db["media"].insert_many([{"_id": "m1"}, {"_id": "m2"}, {"_id": "m3", "dedup_key": "u:sha"}])
    with pytest.raises(DuplicateKeyError):
        await db["media"].insert_one({"_id": "m4", "dedup_key": "u:sha"})
    # Attaching removes the key: the same file uploaded again may take it.
    await db["media"].update_one({"_id": "m3"}, {"$unset": {"dedup_key": ""}})
    await db["media"].insert_one({"_id": "m4", "dedup_key": "u:sha"})
    assert await db["media"].count_documents({"dedup_key": "u:sha"}) == 1


async def test_unique_sparse_index_still_indexes_null(db: Database) -> None:
    # "Sparse Indexes": only documents WITHOUT the field are skipped; a null value is indexed,
    # so two nulls collide (why media deletes `dedup_key` instead of storing None).
    await db["c"].create_index("idempotency_scope", unique=True, sparse=True)
    await db["c"].insert_one({"_id": 1, "idempotency_scope": None})
    await db["c"].insert_one({"_id": 2})
    with pytest.raises(DuplicateKeyError):
        await db["c"].insert_one({"_id": 3, "idempotency_scope": None})
    assert await db["c"].count_documents({}) == 2


async def test_upsert_that_would_duplicate_a_unique_key_raises(db: Database) -> None:
    await db["c"].create_index("key", unique=True)
    await db["c"].insert_one({"_id": 1, "key": "k"})
    with pytest.raises(DuplicateKeyError):
        await db["c"].update_one({"_id": 2}, {"$setOnInsert": {"key": "k"}}, upsert=True)
    assert await db["c"].count_documents({}) == 1


async def test_compound_indexes_names_and_idempotent_creation(db: Database) -> None:
    coll = db["appeals"]
    specs: list[list[tuple[str, int]]] = [
        [("author_id", ASCENDING), ("created_at", DESCENDING)],
        [("organization.id", ASCENDING), ("status", ASCENDING), ("due_at", ASCENDING)],
        [("owner", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)],
    ]
    names = [await coll.create_index(spec) for spec in specs]
    # Default index names join field and direction with underscores.
    assert names == [
        "author_id_1_created_at_-1",
        "organization.id_1_status_1_due_at_1",
        "owner_1_created_at_-1__id_-1",
    ]
    assert await coll.create_index(specs[0]) == names[0]  # the same index again: no error
    info = await coll.index_information()
    assert {name: _keys(info, name) for name in names} == dict(zip(names, specs, strict=True))
    await coll.insert_many(
        [
            {"_id": 1, "author_id": "u", "created_at": T0, "organization": {"id": "o"}, "status": "routed"},
            {"_id": 2, "author_id": "u", "created_at": T0 + timedelta(hours=1)},
        ]
    )
    assert [d["_id"] async for d in coll.find({"author_id": "u"}).sort("created_at", DESCENDING)] == [2, 1]
    assert await coll.count_documents({"organization.id": "o", "status": "routed"}) == 1


async def test_sparse_indexes_on_a_plain_field_and_a_path_into_an_array(db: Database) -> None:
    coll = db["timers"]
    assert await coll.create_index([("next_due_at", ASCENDING)], sparse=True) == "next_due_at_1"
    assert await coll.create_index("outbox.id", sparse=True) == "outbox.id_1"
    info = await coll.index_information()
    assert info["next_due_at_1"].get("sparse") is True
    assert info["outbox.id_1"].get("sparse") is True
    await coll.insert_many(
        [
            {"_id": "a", "next_due_at": T0, "outbox": [{"id": "e1"}, {"id": "e2"}]},
            {"_id": "b", "outbox": []},
            {"_id": "c", "next_due_at": T0 + timedelta(days=1)},
        ]
    )
    # A sparse index never changes a query's result: documents without the field still match.
    assert [d["_id"] async for d in coll.find({"next_due_at": {"$lte": T0}})] == ["a"]
    assert await coll.count_documents({"next_due_at": {"$exists": False}}) == 1
    assert [d["_id"] async for d in coll.find({"outbox.id": {"$exists": True}})] == ["a"]
    assert [d["_id"] async for d in coll.find({"outbox.id": "e2"})] == ["a"]


async def test_indexes_on_array_fields(db: Database) -> None:
    # "Multikey Indexes": an index on an array field indexes each element.
    await db["clusters"].create_index("members")
    await db["appeals"].create_index("media_ids")
    await db["timers"].create_index("assignments.received_at")
    await db["clusters"].insert_many(
        [{"_id": "k1", "members": ["a1", "a2"]}, {"_id": "k2", "members": ["a3"]}]
    )
    await db["appeals"].insert_many([{"_id": "x", "media_ids": ["m1", "m2"]}, {"_id": "y", "media_ids": []}])
    await db["timers"].insert_one(
        {"_id": "t", "assignments": [{"received_at": T0}, {"received_at": T0 + timedelta(days=3)}]}
    )
    assert [d["_id"] async for d in db["clusters"].find({"members": "a2"})] == ["k1"]
    assert [d["_id"] async for d in db["appeals"].find({"media_ids": "m1"})] == ["x"]
    window = {"$gte": T0 + timedelta(days=1), "$lt": T0 + timedelta(days=4)}
    assert [d["_id"] async for d in db["timers"].find({"assignments.received_at": window})] == ["t"]


async def test_ttl_indexes_are_created_with_expire_after_seconds(db: Database) -> None:
    # Expiry itself is the TTL monitor's (every 60 s in MongoDB): not waited for here.
    assert await db["rate_limits"].create_index("expires_at", expireAfterSeconds=0) == "expires_at_1"
    days = int(timedelta(days=30).total_seconds())
    assert await db["tombstones"].create_index("deleted_at", expireAfterSeconds=days) == "deleted_at_1"
    limits = await db["rate_limits"].index_information()
    tombstones = await db["tombstones"].index_information()
    assert _keys(limits, "expires_at_1") == [("expires_at", 1)]
    assert limits["expires_at_1"]["expireAfterSeconds"] == 0
    assert tombstones["deleted_at_1"]["expireAfterSeconds"] == days
    assert "expireAfterSeconds" not in limits["_id_"]


async def test_collection_exists_with_its_id_index_after_create_index(db: Database) -> None:
    await db["fresh"].create_index("topic")
    info = await db["fresh"].index_information()
    assert set(info) == {"_id_", "topic_1"}
    assert _keys(info, "_id_") == [("_id", 1)]


async def test_compound_unique_index_refuses_a_duplicate_pair_only(db: Database) -> None:
    # polls: one ballot per (poll_id, voter_id); voters are later unlinked to a per-ballot value.
    await db["ballots"].create_index([("poll_id", ASCENDING), ("voter_id", ASCENDING)], unique=True)
    await db["ballots"].insert_one({"_id": "b1", "poll_id": "p1", "voter_id": "v1"})
    await db["ballots"].insert_one({"_id": "b2", "poll_id": "p1", "voter_id": "v2"})
    await db["ballots"].insert_one({"_id": "b3", "poll_id": "p2", "voter_id": "v1"})
    with pytest.raises(DuplicateKeyError) as caught:
        await db["ballots"].insert_one({"_id": "b4", "poll_id": "p1", "voter_id": "v1"})
    assert caught.value.code == 11000
    with pytest.raises(DuplicateKeyError):
        await db["ballots"].update_one({"_id": "b2"}, {"$set": {"voter_id": "v1"}})
    await db["ballots"].update_one({"_id": "b1"}, {"$set": {"voter_id": "unlinked:b1"}})
    await db["ballots"].insert_one({"_id": "b5", "poll_id": "p1", "voter_id": "v1"})  # free again
    assert await db["ballots"].count_documents({"poll_id": "p1"}) == 3
