"""`find_one_and_update` (`return_document` BEFORE/AFTER), upserts (with `$setOnInsert`, `$inc`,
`$set`), `replace_one(upsert=True)`, `find_one_and_delete`, `insert_one`/`insert_many` results.

Pins:
- intake `_next_number` and routing catalogue `_allocate` (upsert + $inc + AFTER: a counter),
  intake rate limit (upsert + $inc + $setOnInsert expires_at + AFTER);
- deadlines `claim_due` (conditional find_one_and_update + AFTER; None when another replica won),
  media `_touch_duplicate` (AFTER), notify `_claim` (default: the document BEFORE);
- notify recipients / push subscriptions ($set + $setOnInsert created_at, upsert), preferences and
  org contacts ($set upsert), feed items and the delivery log ($setOnInsert-only upsert: a replay
  changes nothing), media tombstones ($setOnInsert deleted_at upsert);
- routing catalogue `_write` (replace_one upsert: the stored item is exactly the new one);
- media `sweep_orphans` / `_drop_unclaimed` (conditional find_one_and_delete); notify
  `unsubscribe` / `remove_webhook` (find_one_and_delete guarded by the owner, with a projection:
  what the removed one belonged to, for the in-memory organisation data).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.errors import BulkWriteError

from libs.common.store import Database

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def test_find_one_and_update_returns_before_by_default_and_after_on_request(db: Database) -> None:
    await db["c"].insert_one({"_id": "d", "status": "pending", "attempts": 0})
    before = await db["c"].find_one_and_update({"_id": "d"}, {"$inc": {"attempts": 1}})
    assert before == {"_id": "d", "status": "pending", "attempts": 0}
    after = await db["c"].find_one_and_update(
        {"_id": "d", "status": {"$ne": "sent"}},
        {"$set": {"lease_until": T0}, "$inc": {"attempts": 1}},
        return_document=ReturnDocument.AFTER,
    )
    assert after == {"_id": "d", "status": "pending", "attempts": 2, "lease_until": T0}
    explicit = await db["c"].find_one_and_update(
        {"_id": "d"}, {"$set": {"status": "sent"}}, return_document=ReturnDocument.BEFORE
    )
    assert explicit is not None and explicit["status"] == "pending"


async def test_find_one_and_update_without_match_returns_none(db: Database) -> None:
    await db["c"].insert_one({"_id": "t", "state": "armed"})
    first = await db["c"].find_one_and_update(
        {"_id": "t", "state": "armed"}, {"$set": {"state": "fired"}}, return_document=ReturnDocument.AFTER
    )
    second = await db["c"].find_one_and_update(
        {"_id": "t", "state": "armed"}, {"$set": {"state": "fired"}}, return_document=ReturnDocument.AFTER
    )
    assert first == {"_id": "t", "state": "fired"}
    assert second is None
    assert await db["c"].count_documents({}) == 1


async def test_claim_with_an_or_guard_succeeds_once(db: Database) -> None:
    # deadlines `claim_due`: {_id, next_due_at $lte now, $or: [no lease, lease ended]} -> lease it
    await db["timers"].insert_one({"_id": "a1", "next_due_at": T0, "version": 4})
    claimable = {
        "next_due_at": {"$lte": T0},
        "$or": [{"lease_until": {"$exists": False}}, {"lease_until": {"$lte": T0}}],
    }
    lease = {"$set": {"lease_owner": "r1", "lease_until": T0 + timedelta(seconds=30)}}
    first = await db["timers"].find_one_and_update(
        {"_id": "a1", **claimable}, lease, return_document=ReturnDocument.AFTER
    )
    second = await db["timers"].find_one_and_update(
        {"_id": "a1", **claimable}, lease, return_document=ReturnDocument.AFTER
    )
    assert first == {
        "_id": "a1",
        "next_due_at": T0,
        "version": 4,
        "lease_owner": "r1",
        "lease_until": T0 + timedelta(seconds=30),
    }
    assert second is None


async def test_upsert_inserts_the_equality_fields_of_the_filter_only(db: Database) -> None:
    # "Upsert with Operator Expressions": the new document starts from the filter's equality
    # clauses; other conditions are not copied.
    result = await db["c"].update_one(
        {"_id": "x", "kind": "a", "n": {"$gte": 1, "$lt": 5}}, {"$set": {"m": 1}}, upsert=True
    )
    assert result.upserted_id == "x"
    assert await db["c"].find_one({"_id": "x"}) == {"_id": "x", "kind": "a", "m": 1}


async def test_upsert_counter_with_return_after(db: Database) -> None:
    # An upsert inserts the filter's equality fields plus the update's effect.
    numbers = [
        (
            await db["counters"].find_one_and_update(
                {"_id": "appeal-2026"},
                {"$inc": {"seq": 1}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        )
        for _ in range(3)
    ]
    assert numbers == [{"_id": "appeal-2026", "seq": n} for n in (1, 2, 3)]


async def test_upsert_with_return_before_returns_none_on_insert(db: Database) -> None:
    # "findOneAndUpdate ... returnNewDocument false": with upsert, null when a document is inserted.
    found = await db["c"].find_one_and_update({"_id": "new"}, {"$inc": {"seq": 1}}, upsert=True)
    assert found is None
    assert await db["c"].find_one({"_id": "new"}) == {"_id": "new", "seq": 1}


async def test_rate_limit_window_upsert_sets_on_insert_only(db: Database) -> None:
    expires = T0 + timedelta(minutes=2)
    first = await db["rl"].find_one_and_update(
        {"_id": "caller:1"},
        {"$inc": {"count": 1}, "$setOnInsert": {"expires_at": expires}},
        upsert=True,
        return_document=ReturnDocument.AFTER,
    )
    second = await db["rl"].find_one_and_update(
        {"_id": "caller:1"},
        {"$inc": {"count": 1}, "$setOnInsert": {"expires_at": expires + timedelta(hours=1)}},
        upsert=True,
        return_document=ReturnDocument.AFTER,
    )
    assert first == {"_id": "caller:1", "count": 1, "expires_at": expires}
    assert second == {"_id": "caller:1", "count": 2, "expires_at": expires}


async def test_update_one_upsert_with_set_and_set_on_insert(db: Database) -> None:
    # "$setOnInsert": applied only when the update inserts a document.
    inserted = await db["subs"].update_one(
        {"_id": "s1"},
        {"$set": {"user_id": "u", "org_id": None}, "$setOnInsert": {"created_at": T0}},
        upsert=True,
    )
    assert (inserted.matched_count, inserted.modified_count, inserted.upserted_id) == (0, 0, "s1")
    updated = await db["subs"].update_one(
        {"_id": "s1"},
        {"$set": {"user_id": "u", "org_id": "o"}, "$setOnInsert": {"created_at": T0 + timedelta(days=1)}},
        upsert=True,
    )
    assert (updated.matched_count, updated.modified_count, updated.upserted_id) == (1, 1, None)
    assert await db["subs"].find_one({"_id": "s1"}) == {
        "_id": "s1",
        "user_id": "u",
        "org_id": "o",
        "created_at": T0,
    }


async def test_set_on_insert_only_upsert_replays_change_nothing(db: Database) -> None:
    item = {"owner": "user:u", "title": "t", "created_at": T0, "event_id": "ev1"}
    first = await db["feed"].update_one({"_id": "n1"}, {"$setOnInsert": item}, upsert=True)
    replay = await db["feed"].update_one(
        {"_id": "n1"}, {"$setOnInsert": {**item, "title": "changed"}}, upsert=True
    )
    assert first.upserted_id == "n1"
    assert (replay.matched_count, replay.modified_count, replay.upserted_id) == (1, 0, None)
    assert await db["feed"].find_one({"_id": "n1"}) == {"_id": "n1", **item}


async def test_set_upsert_creates_then_updates(db: Database) -> None:
    prefs = {"email": True, "push": False}
    await db["prefs"].update_one(
        {"_id": "u"}, {"$set": {"preferences": prefs, "updated_at": T0}}, upsert=True
    )
    await db["prefs"].update_one({"_id": "u"}, {"$set": {"preferences": {"email": False}}}, upsert=True)
    assert await db["prefs"].find_one({"_id": "u"}) == {
        "_id": "u",
        "preferences": {"email": False},
        "updated_at": T0,
    }
    assert await db["prefs"].count_documents({}) == 1


async def test_replace_one_upsert_replaces_the_whole_document(db: Database) -> None:
    created = await db["topics"].replace_one(
        {"_id": "roads"}, {"_id": "roads", "name": "Roads", "version": 1}, upsert=True
    )
    assert (created.matched_count, created.upserted_id) == (0, "roads")
    await db["topics"].update_one({"_id": "roads"}, {"$set": {"extra": 1}})
    replaced = await db["topics"].replace_one(
        {"_id": "roads"}, {"_id": "roads", "code": "roads", "version": 2}, upsert=True
    )
    assert (replaced.matched_count, replaced.modified_count, replaced.upserted_id) == (1, 1, None)
    assert await db["topics"].find_one({"_id": "roads"}) == {"_id": "roads", "code": "roads", "version": 2}


async def test_find_one_and_delete(db: Database) -> None:
    await db["media"].insert_many(
        [
            {"_id": "m1", "appeal_id": None, "touched_at": T0 - timedelta(days=2)},
            {"_id": "m2", "appeal_id": "a", "touched_at": T0 - timedelta(days=2)},
        ]
    )
    unclaimed = {"appeal_id": None, "touched_at": {"$lt": T0}}
    gone = await db["media"].find_one_and_delete({"_id": "m1", **unclaimed})
    assert gone == {"_id": "m1", "appeal_id": None, "touched_at": T0 - timedelta(days=2)}
    assert await db["media"].find_one_and_delete({"_id": "m1", **unclaimed}) is None
    assert await db["media"].find_one_and_delete({"_id": "m2", **unclaimed}) is None
    assert await db["media"].count_documents({}) == 1


async def test_find_one_and_delete_guarded_by_the_owner_returns_the_projection(db: Database) -> None:
    await db["push_subscriptions"].insert_one(
        {"_id": "s1", "user_id": "op-1", "org_id": "org-1", "endpoint": "https://push.example/1"}
    )
    someone_else = {"_id": "s1", "user_id": "op-2"}
    assert await db["push_subscriptions"].find_one_and_delete(someone_else, projection={"org_id": 1}) is None
    owner = {"_id": "s1", "user_id": "op-1"}
    gone = await db["push_subscriptions"].find_one_and_delete(owner, projection={"org_id": 1})
    assert gone == {"_id": "s1", "org_id": "org-1"}
    assert await db["push_subscriptions"].count_documents({}) == 0


async def test_insert_results(db: Database) -> None:
    one = await db["c"].insert_one({"_id": "x", "n": 1})
    assert one.inserted_id == "x"
    doc: dict[str, object] = {"n": 2}
    generated = await db["c"].insert_one(doc)
    # PyMongo adds a generated ObjectId `_id` to the document passed in.
    assert isinstance(generated.inserted_id, ObjectId) and doc["_id"] == generated.inserted_id
    many = await db["c"].insert_many([{"_id": "y"}, {"_id": "z"}])
    assert many.inserted_ids == ["y", "z"]
    assert await db["c"].count_documents({}) == 4


async def test_unordered_insert_many_inserts_the_new_and_names_the_duplicates(db: Database) -> None:
    """notify `dispatch`: the event's feed items and its deliveries (already claimed) are each one
    `insert_many(ordered=False)`; a redelivered event's duplicates are reported by index (code
    11000) and every other document is inserted all the same."""
    await db["deliveries"].insert_one({"_id": "b", "status": "sent"})
    docs = [{"_id": "a", "status": "pending"}, {"_id": "b", "status": "pending"}, {"_id": "c"}]
    with pytest.raises(BulkWriteError) as raised:
        await db["deliveries"].insert_many(docs, ordered=False)
    errors = raised.value.details["writeErrors"]
    assert [(error["index"], error["code"]) for error in errors] == [(1, 11000)]
    assert raised.value.details["nInserted"] == 2
    stored = await db["deliveries"].find({}).sort("_id", 1).to_list()
    assert stored == [{"_id": "a", "status": "pending"}, {"_id": "b", "status": "sent"}, {"_id": "c"}]


async def test_upsert_with_set_and_set_on_insert_returns_the_record_after(db: Database) -> None:
    """notify `_remember` (appeal.routed): the organisation is written into the appeal's record and
    the record read back in the same round trip; created_at only on insert."""
    routed = {"organization": {"id": "o1", "name": "O"}, "timezone": "UTC"}
    update = {"$set": routed, "$setOnInsert": {"created_at": T0}}
    first = await db["r"].find_one_and_update(
        {"_id": "a1"}, update, upsert=True, return_document=ReturnDocument.AFTER
    )
    assert first == {"_id": "a1", **routed, "created_at": T0}
    await db["r"].update_one({"_id": "a2"}, {"$set": {"author_id": "u"}}, upsert=True)
    later = {"$set": {"timezone": "Europe/Moscow"}, "$setOnInsert": {"created_at": T0 + timedelta(days=1)}}
    second = await db["r"].find_one_and_update(
        {"_id": "a2"}, later, upsert=True, return_document=ReturnDocument.AFTER
    )
    assert second == {"_id": "a2", "author_id": "u", "timezone": "Europe/Moscow"}
