"""Query shapes: filters of `find`, `find_one`, `count_documents`, `distinct`; projections.

Pins:
- null / missing: media `{"appeal_id": None}` (unattached uploads, retention), routing clusters
  `{"cluster_id": None}`, notify delivery claim `{"lease_until": None}` / `{"not_before": None}`;
- `$ne`: notify feed `read_by $ne user`, idempotency guards `applied $ne event_id` (intake
  actions, routing moves), `permanent $ne True`, `status $ne sent`, intake `due_at $ne None`,
  routing `_id $ne`, clusters `cluster_id $ne None`;
- `$in` / `$nin`: notify feed owners, routing statuses, media attach `_id $in`, open311 numbers
  and topics, intake open statuses, gauges `status $nin [closed, rejected]`, clusters `_id $in ids`;
- `$exists`: outbox sweep `outbox.id $exists` (libs/common/outbox.py), open311 `open311 $exists`,
  deadlines claim `lease_until $exists False`;
- ranges `$gt $gte $lt $lte`: deadlines `next_due_at $lte`, `assignments.received_at [$gte, $lt)`,
  routing spam window, repeat lookup (`answered_at $gte`, `$exists False`) and clusters box (`location.lat/lon`), media `created_at $gte` and
  `touched_at $lt`, notify `not_before $lte`, open311 `created_at [$gte, $lte]`;
- `$or` / `$and`: deadlines `_claimable`, notify `_claim` ($and of two $or), `webhooks_for`;
- dotted paths: `organization.id` (intake queue, routing, media_visible), `location.lat`;
- array-element matching: intake `media_ids` equality, clusters `members`, `applied`/`read_by`;
- projections: `{"_id": 1}`, `{"status": 1}`, `{"_id": 0, "version": 0}`, HIDDEN (`outbox: 0`, ...),
  `{"created_at": 0}`; notify's webhook planning fields (a hook stored without `monitor_id` is
  returned without it);
- `count_documents(q, limit=1)` (existence checks), `distinct("cluster_id", filter)`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum

import pytest

from libs.common.store import Database

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def ids(db: Database, query: dict[str, object], collection: str = "c") -> list[object]:
    return sorted([doc["_id"] async for doc in db[collection].find(query, {"_id": 1})])


@pytest.fixture
async def mixed(db: Database) -> Database:
    """A field that is null, missing, a date, a number, a string, an array."""
    await db["c"].insert_many(
        [
            {"_id": "null", "a": None},
            {"_id": "missing"},
            {"_id": "date", "a": T0},
            {"_id": "int", "a": 3},
            {"_id": "str", "a": "x"},
            {"_id": "arr", "a": [3, "y"]},
        ]
    )
    return db


async def test_find_one_by_id_and_none_when_absent(db: Database) -> None:
    await db["c"].insert_one({"_id": "a1", "n": 1})
    assert await db["c"].find_one({"_id": "a1"}) == {"_id": "a1", "n": 1}
    assert await db["c"].find_one({"_id": "nope"}) is None


async def test_equality_to_null_matches_null_and_missing(mixed: Database) -> None:
    # "Query for Null or Missing Fields": {field: null} matches both.
    assert await ids(mixed, {"a": None}) == ["missing", "null"]


async def test_ne_matches_missing_and_every_element_of_an_array(mixed: Database) -> None:
    # $ne: "documents where the field does not exist" match too; on an array, no element may equal.
    assert await ids(mixed, {"a": {"$ne": 3}}) == ["date", "missing", "null", "str"]
    assert await ids(mixed, {"a": {"$ne": None}}) == ["arr", "date", "int", "str"]


async def test_ne_none_with_a_range_on_the_same_field(db: Database) -> None:
    # intake queue: {"due_at": {"$ne": None, "$lte": ...}} over dates, nulls and missing fields
    await db["c"].insert_many(
        [
            {"_id": "soon", "due_at": T0},
            {"_id": "late", "due_at": T0 + timedelta(days=9)},
            {"_id": "null", "due_at": None},
            {"_id": "missing"},
        ]
    )
    assert await ids(db, {"due_at": {"$ne": None, "$lte": T0 + timedelta(days=1)}}) == ["soon"]


async def test_in_and_nin(mixed: Database) -> None:
    assert await ids(mixed, {"a": {"$in": [3, "x"]}}) == ["arr", "int", "str"]
    assert await ids(mixed, {"a": {"$in": [None]}}) == ["missing", "null"]
    assert await ids(mixed, {"_id": {"$in": []}}) == []
    # $nin: "documents that do not contain the field" match too.
    assert await ids(mixed, {"a": {"$nin": ["x"]}}) == ["arr", "date", "int", "missing", "null"]
    assert await ids(mixed, {"a": {"$nin": [3, "x"]}}) == ["date", "missing", "null"]


@pytest.mark.mongoeco_departure("`$nin: [null]` still matches documents whose field is null or missing")
async def test_nin_null_excludes_null_and_missing(mixed: Database) -> None:
    # $nin is the negation of $in, and `$in: [null]` matches null and missing fields.
    assert await ids(mixed, {"a": {"$nin": [3, "x", None]}}) == ["date"]


async def test_exists(mixed: Database) -> None:
    # $exists: true matches a field holding null.
    assert await ids(mixed, {"a": {"$exists": True}}) == ["arr", "date", "int", "null", "str"]
    assert await ids(mixed, {"a": {"$exists": False}}) == ["missing"]


async def test_exists_on_a_path_into_an_array_of_subdocuments(db: Database) -> None:
    # The outbox sweep: an empty outbox has no `outbox.id`.
    await db["c"].insert_many(
        [
            {"_id": "pending", "outbox": [{"id": "e1"}, {"id": "e2"}]},
            {"_id": "empty", "outbox": []},
            {"_id": "none"},
        ]
    )
    assert await ids(db, {"outbox.id": {"$exists": True}}) == ["pending"]


@pytest.mark.mongoeco_departure(
    "range operators compare across BSON types (null, numbers and strings are $lte a date, "
    "dates are $gt a number) instead of matching only values of the query value's type"
)
async def test_comparison_operators_match_only_the_same_bson_type(mixed: Database) -> None:
    # "Comparison Query Operators" / "Type Bracketing": $lt/$lte/$gt/$gte only match values of
    # the query value's BSON type (an array matches through its elements). Null never matches.
    assert await ids(mixed, {"a": {"$lte": T0}}) == ["date"]
    assert await ids(mixed, {"a": {"$lt": T0 + timedelta(days=1)}}) == ["date"]
    assert await ids(mixed, {"a": {"$gte": 3}}) == ["arr", "int"]
    assert await ids(mixed, {"a": {"$gt": 0}}) == ["arr", "int"]
    assert await ids(mixed, {"a": {"$lt": 5}}) == ["arr", "int"]
    assert await ids(mixed, {"a": {"$gte": "a"}}) == ["arr", "str"]


async def test_ranges_on_dates(db: Database) -> None:
    await db["c"].insert_many([{"_id": i, "at": T0 + timedelta(hours=i)} for i in range(5)])
    assert await ids(db, {"at": {"$gte": T0 + timedelta(hours=1), "$lt": T0 + timedelta(hours=3)}}) == [1, 2]
    assert await ids(db, {"at": {"$gt": T0 + timedelta(hours=3)}}) == [4]
    assert await ids(db, {"at": {"$lte": T0}}) == [0]
    # open311: created_at within [start, end], both ends included
    assert await ids(db, {"at": {"$gte": T0 + timedelta(hours=2), "$lte": T0 + timedelta(hours=4)}}) == [
        2,
        3,
        4,
    ]


async def test_or_of_exists_false_and_a_range(db: Database) -> None:
    # deadlines `_claimable`: due, and either never leased (the lease is $unset) or lease ended
    await db["c"].insert_many(
        [
            {"_id": "free", "due": T0},
            {"_id": "expired", "due": T0, "lease": T0 - timedelta(seconds=1)},
            {"_id": "ends-now", "due": T0, "lease": T0},
            {"_id": "leased", "due": T0, "lease": T0 + timedelta(minutes=1)},
            {"_id": "future", "due": T0 + timedelta(days=1)},
        ]
    )
    free = [{"lease": {"$exists": False}}, {"lease": {"$lte": T0}}]
    assert await ids(db, {"due": {"$lte": T0}, "$or": free}) == ["ends-now", "expired", "free"]
    assert await ids(db, {"$or": [{"_id": "free"}, {"due": {"$gt": T0}}]}) == ["free", "future"]


async def test_or_of_exists_and_a_compound_branch(db: Database) -> None:
    # intake Open311 `GET requests`: came in through Open311, or public and past moderation
    await db["c"].insert_many(
        [
            {"_id": "open311", "open311": {"client": "x"}, "status": "received"},
            {"_id": "public", "public": True, "status": "routed", "number": "n1"},
            {"_id": "public-unmoderated", "public": True, "status": "received", "number": "n2"},
            {"_id": "private", "status": "routed", "number": "n3"},
            {"_id": "public-false", "public": False, "status": "routed"},
        ]
    )
    listed = {
        "$or": [{"open311": {"$exists": True}}, {"public": True, "status": {"$in": ["routed", "closed"]}}]
    }
    assert await ids(db, listed) == ["open311", "public"]
    assert await ids(db, {"number": "n1", **listed}) == ["public"]
    assert await ids(db, {"number": "n3", **listed}) == []


async def test_and_of_ors_with_null_branches(db: Database) -> None:
    # notify `_claim`: lease null/missing or ended, and not_before null/missing or reached
    await db["c"].insert_many(
        [
            {"_id": "fresh"},
            {"_id": "expired", "lease": T0 - timedelta(seconds=1)},
            {"_id": "leased", "lease": T0 + timedelta(minutes=1)},
            {"_id": "nulls", "lease": None, "nb": None},
            {"_id": "later", "lease": None, "nb": T0 + timedelta(hours=1)},
            {"_id": "reached", "nb": T0},
        ]
    )
    claimable = {
        "_id": {"$ne": "reached"},
        "$and": [
            {"$or": [{"lease": None}, {"lease": {"$lte": T0}}]},
            {"$or": [{"nb": None}, {"nb": {"$lte": T0}}]},
        ],
    }
    assert await ids(db, claimable) == ["expired", "fresh", "nulls"]
    del claimable["_id"]
    assert await ids(db, claimable) == ["expired", "fresh", "nulls", "reached"]


async def test_dotted_paths_into_subdocuments(db: Database) -> None:
    await db["c"].insert_many(
        [
            {"_id": 1, "organization": {"id": "org-1"}, "location": {"lat": 55.75, "lon": 37.61}},
            {"_id": 2, "organization": {"id": "org-2"}, "location": {"lat": 55.80, "lon": 37.61}},
            {"_id": 3, "organization": None, "location": None},
            {"_id": 4},
        ]
    )
    assert await ids(db, {"organization.id": "org-1"}) == [1]
    box = {"location.lat": {"$gte": 55.7, "$lte": 55.77}, "location.lon": {"$gte": 37.6, "$lte": 37.62}}
    assert await ids(db, box) == [1]
    # A path through null or a missing field is missing: it equals null.
    assert await ids(db, {"organization.id": None}) == [3, 4]


async def test_equality_matches_an_array_element(db: Database) -> None:
    await db["c"].insert_many(
        [
            {"_id": 1, "media_ids": ["m1", "m2"], "organization": {"id": "o"}},
            {"_id": 2, "media_ids": ["m3"], "organization": {"id": "o"}},
            {"_id": 3, "media_ids": []},
        ]
    )
    assert await ids(db, {"media_ids": "m2", "organization.id": "o"}) == [1]
    assert await ids(db, {"media_ids": {"$in": ["m3", "m9"]}}) == [2]
    assert await ids(db, {"media_ids": {"$ne": "m1"}}) == [2, 3]


async def test_range_on_an_array_of_subdocuments_may_match_different_elements(db: Database) -> None:
    # "Query an Array of Embedded Documents" / "Specify Multiple Conditions for Array of
    # Documents": without $elemMatch, each condition may be met by a different element (deadlines'
    # `assignments()` filters the assignments again for this reason).
    await db["c"].insert_many(
        [
            {"_id": "inside", "assignments": [{"received_at": T0 + timedelta(days=2)}]},
            {
                "_id": "around",
                "assignments": [
                    {"received_at": T0 - timedelta(days=1)},
                    {"received_at": T0 + timedelta(days=9)},
                ],
            },
            {"_id": "before", "assignments": [{"received_at": T0 - timedelta(days=1)}]},
        ]
    )
    window = {"$gte": T0, "$lt": T0 + timedelta(days=5)}
    assert await ids(db, {"assignments.received_at": window}) == ["around", "inside"]
    assert await ids(db, {"assignments": {"$elemMatch": {"received_at": window}}}) == ["inside"]


async def test_projections(db: Database) -> None:
    doc = {"_id": "a", "status": "held", "outbox": [{"id": "e"}], "applied": [], "version": 3, "n": {"x": 1}}
    await db["c"].insert_one(doc)
    assert await db["c"].find_one({"_id": "a"}, {"_id": 1}) == {"_id": "a"}
    assert await db["c"].find_one({"_id": "a"}, {"status": 1}) == {"_id": "a", "status": "held"}
    assert await db["c"].find_one({"_id": "a"}, {"outbox": 1}) == {"_id": "a", "outbox": [{"id": "e"}]}
    assert await db["c"].find_one({"_id": "a"}, {"_id": 0, "version": 0}) == {
        "status": "held",
        "outbox": [{"id": "e"}],
        "applied": [],
        "n": {"x": 1},
    }
    hidden = {"outbox": 0, "applied": 0, "fingerprint": 0, "author_id": 0}  # absent fields too
    assert await db["c"].find_one({"_id": "a"}, hidden) == {
        "_id": "a",
        "status": "held",
        "version": 3,
        "n": {"x": 1},
    }
    # An inclusion of a field a document lacks adds nothing.
    assert await db["c"].find({}, {"author_id": 1, "organization": 1}).to_list(None) == [{"_id": "a"}]


async def test_count_documents(db: Database) -> None:
    await db["c"].insert_many([{"_id": i, "even": i % 2 == 0} for i in range(5)])
    assert await db["c"].count_documents({}) == 5
    assert await db["c"].count_documents({"even": True}) == 3
    assert await db["c"].count_documents({"even": True}, limit=1) == 1
    assert await db["c"].count_documents({"_id": 99}, limit=1) == 0
    assert await db["empty"].count_documents({}) == 0


async def test_distinct_with_a_filter(db: Database) -> None:
    await db["c"].insert_many(
        [
            {"_id": 1, "organization": {"id": "o"}, "cluster_id": "k1"},
            {"_id": 2, "organization": {"id": "o"}, "cluster_id": "k1"},
            {"_id": 3, "organization": {"id": "o"}, "cluster_id": None},
            {"_id": 4, "organization": {"id": "o"}},
            {"_id": 5, "organization": {"id": "p"}, "cluster_id": "k2"},
        ]
    )
    found = await db["c"].distinct("cluster_id", {"organization.id": "o", "cluster_id": {"$ne": None}})
    assert found == ["k1"]
    assert sorted(await db["c"].distinct("organization.id")) == ["o", "p"]


class Status(StrEnum):
    DEFERRED = "deferred"


async def test_str_enum_values_are_stored_and_matched_as_strings(db: Database) -> None:
    # Services write and query with StrEnum members; BSON has strings only.
    await db["c"].insert_one({"_id": 1, "status": Status.DEFERRED})
    assert await ids(db, {"status": "deferred"}) == [1]
    assert await ids(db, {"status": Status.DEFERRED}) == [1]
    assert await ids(db, {"status": {"$in": [Status.DEFERRED]}}) == [1]
    found = await db["c"].find_one({"_id": 1})
    assert found is not None
    assert type(found["status"]) is str and found["status"] == "deferred"


async def test_routing_repeat_lookup_and_open_duplicate_filter(db: Database) -> None:
    # routing `repeat_of`: equality on two fields, a date range, `_id $ne`, newest first, limited;
    # the 24 h filter's `answered_at $exists False` (an answered appeal is not a duplicate).
    docs = [
        {"_id": "a", "resident": "vk:ivan", "topic": "t", "answered_at": T0},
        {"_id": "b", "resident": "vk:ivan", "topic": "t", "answered_at": T0 + timedelta(days=2)},
        {"_id": "c", "resident": "vk:ivan", "topic": "t", "answered_at": T0 - timedelta(days=40)},
        {"_id": "d", "resident": "vk:ivan", "topic": "t"},
        {"_id": "e", "resident": "vk:petr", "topic": "t", "answered_at": T0},
    ]
    await db["c"].insert_many(docs)
    query = {
        "resident": "vk:ivan",
        "topic": "t",
        "answered_at": {"$gte": T0 - timedelta(days=30)},
        "_id": {"$ne": "x"},
    }
    found = await db["c"].find(query, {"answered_at": 1}).sort("answered_at", -1).limit(20).to_list(20)
    assert [doc["_id"] for doc in found] == ["b", "a"]
    assert await ids(db, {"resident": "vk:ivan", "answered_at": {"$exists": False}}) == ["d"]
