"""Update operators and their results: `$set $unset $inc $push(+$each) $pull(condition)
$addToSet(+$each) $setOnInsert $min $max`, positional `$`, `matched_count`/`modified_count`.

Pins:
- intake actions `_write` / `record` (guarded by version and `applied $ne`: $set + $inc + $push
  with $each into the outbox, `modified_count`), `apply` ($addToSet applied), open311 $set of a
  subdocument;
- the outbox relay's pull of published entries: `$pull: {outbox: {id: {$in: ids}}}`;
- deadlines `_store` / `_update` ($inc version + $set + $unset next_due_at + $push $each +
  $push applied; `matched_count`), `claim_due` / `fire_claimed` / `_release` ($set / $unset of
  the lease, guarded by the owner);
- notify `mark_read` ($addToSet, `matched_count`), `mark_all_read` (update_many + $addToSet under
  `read_by $ne`, `modified_count`), delivery requeue/settle ($set + $unset, `matched_count`);
- media `attach` (update_many: $set + $unset of several fields, `modified_count`), `set_public`;
- `libs/common/aggregate.py` `Aggregate.write` (every aggregate's write): the guard
  `version: None` matches a record stored before it had a version, `$inc` then creates it;
- routing moves ($set + $inc version + $push + $addToSet refused), clusters `grow`
  ($addToSet $each members + $min first_at + $max last_at), `update_many` of `cluster_id: None`,
  catalogue `_record` ($max published + $set).
- positional `$` is not used by the services today; it is pinned because the next array-entry
  update would reach for it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from libs.common.store import Database

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def test_set_top_level_dotted_and_null(db: Database) -> None:
    await db["c"].insert_one({"_id": 1, "status": "received", "organization": {"id": "o", "name": "O"}})
    result = await db["c"].update_one(
        {"_id": 1},
        {
            "$set": {
                "status": "routed",
                "organization.name": "New",
                "open311": {"account_id": None},
                "due_at": None,
            }
        },
    )
    assert (result.matched_count, result.modified_count) == (1, 1)
    assert await db["c"].find_one({"_id": 1}) == {
        "_id": 1,
        "status": "routed",
        "organization": {"id": "o", "name": "New"},
        "open311": {"account_id": None},
        "due_at": None,
    }


async def test_set_of_equal_values_modifies_nothing(db: Database) -> None:
    # "$set": if the value is unchanged the document is not modified: nModified 0.
    await db["c"].insert_one({"_id": 1, "public": True})
    result = await db["c"].update_one({"_id": 1}, {"$set": {"public": True}})
    assert (result.matched_count, result.modified_count) == (1, 0)


async def test_no_match_counts_zero(db: Database) -> None:
    await db["c"].insert_one({"_id": 1, "version": 2})
    result = await db["c"].update_one({"_id": 1, "version": 1}, {"$inc": {"version": 1}})
    assert (result.matched_count, result.modified_count, result.upserted_id) == (0, 0, None)
    assert await db["c"].find_one({"_id": 1}) == {"_id": 1, "version": 2}


async def test_unset_removes_fields_and_a_missing_field_is_no_change(db: Database) -> None:
    await db["c"].insert_one({"_id": 1, "lease_owner": "r1", "lease_until": T0, "n": 1})
    result = await db["c"].update_one(
        {"_id": 1, "lease_owner": "r1"}, {"$unset": {"lease_owner": "", "lease_until": ""}}
    )
    assert result.modified_count == 1
    assert await db["c"].find_one({"_id": 1}) == {"_id": 1, "n": 1}
    # "$unset": if the field does not exist, $unset does nothing.
    again = await db["c"].update_one({"_id": 1}, {"$unset": {"lease_owner": "", "lease_until": ""}})
    assert (again.matched_count, again.modified_count) == (1, 0)


async def test_inc_creates_and_increments(db: Database) -> None:
    await db["c"].insert_one({"_id": 1, "version": 0})
    await db["c"].update_one({"_id": 1}, {"$inc": {"version": 1, "attempts": 1}})
    await db["c"].update_one({"_id": 1}, {"$inc": {"version": 1}})
    found = await db["c"].find_one({"_id": 1})
    assert found == {"_id": 1, "version": 2, "attempts": 1}
    assert found is not None and type(found["version"]) is int


async def test_push_a_value_and_each_of_a_list(db: Database) -> None:
    await db["c"].insert_one({"_id": 1, "outbox": [{"id": "e0"}]})
    await db["c"].update_one(
        {"_id": 1},
        {
            "$push": {
                "outbox": {"$each": [{"id": "e1"}, {"id": "e2"}]},
                "applied": "ev1",
                "timeline": {"at": T0},
            }
        },
    )
    await db["c"].update_one({"_id": 1}, {"$push": {"outbox": {"$each": []}}})
    assert await db["c"].find_one({"_id": 1}) == {
        "_id": 1,
        "outbox": [{"id": "e0"}, {"id": "e1"}, {"id": "e2"}],
        "applied": ["ev1"],
        "timeline": [{"at": T0}],
    }


async def test_pull_with_a_condition_removes_only_matching_entries(db: Database) -> None:
    # "$pull": a condition on a field of array documents removes every element matching it.
    await db["c"].insert_one(
        {"_id": 1, "outbox": [{"id": "e1", "t": 1}, {"id": "e2", "t": 2}, {"id": "e3", "t": 3}]}
    )
    result = await db["c"].update_one({"_id": 1}, {"$pull": {"outbox": {"id": {"$in": ["e1", "e3", "e9"]}}}})
    assert result.modified_count == 1
    assert await db["c"].find_one({"_id": 1}) == {"_id": 1, "outbox": [{"id": "e2", "t": 2}]}
    nothing = await db["c"].update_one({"_id": 1}, {"$pull": {"outbox": {"id": {"$in": ["e1"]}}}})
    assert (nothing.matched_count, nothing.modified_count) == (1, 0)
    await db["c"].update_one({"_id": 1}, {"$pull": {"outbox": {"id": {"$in": ["e2"]}}}})
    assert await db["c"].find_one({"_id": 1}) == {"_id": 1, "outbox": []}


async def test_pull_on_a_missing_array_is_no_change(db: Database) -> None:
    await db["c"].insert_one({"_id": 1})
    result = await db["c"].update_one({"_id": 1}, {"$pull": {"outbox": {"id": {"$in": ["e1"]}}}})
    assert (result.matched_count, result.modified_count) == (1, 0)
    assert await db["c"].find_one({"_id": 1}) == {"_id": 1}


async def test_add_to_set_once_and_each_deduplicated(db: Database) -> None:
    # "$addToSet ... $each": each value is added once, duplicates inside $each included.
    await db["c"].insert_one({"_id": "cl", "members": ["a1"]})
    await db["c"].update_one({"_id": "cl"}, {"$addToSet": {"members": {"$each": ["a1", "a2", "a2", "a3"]}}})
    assert await db["c"].find_one({"_id": "cl"}) == {"_id": "cl", "members": ["a1", "a2", "a3"]}
    again = await db["c"].update_one({"_id": "cl"}, {"$addToSet": {"members": "a2"}})
    assert (again.matched_count, again.modified_count) == (1, 0)
    await db["c"].update_one({"_id": "cl"}, {"$addToSet": {"read_by": "u1"}})
    found = await db["c"].find_one({"_id": "cl"})
    assert found is not None and found["read_by"] == ["u1"]


async def test_update_many_add_to_set_under_a_ne_guard(db: Database) -> None:
    await db["feed"].insert_many(
        [
            {"_id": 1, "owner": "user:u"},
            {"_id": 2, "owner": "org:o", "read_by": ["u"]},
            {"_id": 3, "owner": "org:o", "read_by": ["v"]},
            {"_id": 4, "owner": "user:w"},
        ]
    )
    result = await db["feed"].update_many(
        {"owner": {"$in": ["user:u", "org:o"]}, "read_by": {"$ne": "u"}}, {"$addToSet": {"read_by": "u"}}
    )
    assert (result.matched_count, result.modified_count) == (2, 2)
    assert [doc.get("read_by") async for doc in db["feed"].find({}).sort("_id", 1)] == [
        ["u"],
        ["u"],
        ["v", "u"],
        None,
    ]


async def test_update_many_set_and_unset_with_a_null_guard(db: Database) -> None:
    await db["media"].insert_many(
        [
            {
                "_id": "m1",
                "owner_id": "u",
                "appeal_id": None,
                "dedup_key": "u:1",
                "location_hint": {"lat": 1},
            },
            {"_id": "m2", "owner_id": "u", "dedup_key": "u:2"},
            {"_id": "m3", "owner_id": "u", "appeal_id": "other"},
            {"_id": "m4", "owner_id": "v", "appeal_id": None},
        ]
    )
    result = await db["media"].update_many(
        {"_id": {"$in": ["m1", "m2", "m3", "m4"]}, "owner_id": "u", "appeal_id": None},
        {
            "$set": {"appeal_id": "a1", "attached_as": "evidence"},
            "$unset": {"location_hint": "", "dedup_key": ""},
        },
    )
    assert (result.matched_count, result.modified_count) == (2, 2)
    assert await db["media"].find({"appeal_id": "a1"}).sort("_id", 1).to_list(None) == [
        {"_id": "m1", "owner_id": "u", "appeal_id": "a1", "attached_as": "evidence"},
        {"_id": "m2", "owner_id": "u", "appeal_id": "a1", "attached_as": "evidence"},
    ]


async def test_min_and_max(db: Database) -> None:
    # "$min"/"$max": change the field only if the value is lower/greater; a missing field is set.
    await db["c"].insert_one({"_id": "cl", "first_at": T0, "last_at": T0})
    earlier, later = T0 - timedelta(hours=1), T0 + timedelta(hours=1)
    await db["c"].update_one({"_id": "cl"}, {"$min": {"first_at": later}, "$max": {"last_at": earlier}})
    assert await db["c"].find_one({"_id": "cl"}) == {"_id": "cl", "first_at": T0, "last_at": T0}
    await db["c"].update_one(
        {"_id": "cl"}, {"$min": {"first_at": earlier}, "$max": {"last_at": later, "published": 4}}
    )
    assert await db["c"].find_one({"_id": "cl"}) == {
        "_id": "cl",
        "first_at": earlier,
        "last_at": later,
        "published": 4,
    }
    lower = await db["c"].update_one({"_id": "cl"}, {"$max": {"published": 3}, "$set": {"updated_at": T0}})
    assert lower.modified_count == 1  # the $set changed it; $max left `published` alone
    found = await db["c"].find_one({"_id": "cl"})
    assert found is not None and found["published"] == 4


async def test_guarded_state_change_with_outbox_in_one_update(db: Database) -> None:
    """The intake/routing/deadlines write: a version guard and an event-id guard, then $set +
    $inc + $push ($each into the outbox) + $unset, all or nothing."""
    await db["c"].insert_one(
        {"_id": "a", "status": "received", "version": 0, "applied": [], "outbox": [], "next": T0}
    )
    guard = {"_id": "a", "version": 0, "applied": {"$ne": "ev1"}}
    update = {
        "$set": {"status": "routed", "updated_at": T0},
        "$inc": {"version": 1},
        "$push": {"applied": "ev1", "outbox": {"$each": [{"id": "o1"}, {"id": "o2"}]}},
        "$unset": {"next": ""},
        "$addToSet": {"refused": "org-1"},
    }
    first = await db["c"].update_one(guard, update)
    assert (first.matched_count, first.modified_count) == (1, 1)
    replay = await db["c"].update_one({**guard, "version": 1}, update)
    assert (replay.matched_count, replay.modified_count) == (0, 0)
    assert await db["c"].find_one({"_id": "a"}) == {
        "_id": "a",
        "status": "routed",
        "version": 1,
        "applied": ["ev1"],
        "outbox": [{"id": "o1"}, {"id": "o2"}],
        "updated_at": T0,
        "refused": ["org-1"],
    }


async def test_a_null_version_guard_matches_a_record_without_one(db: Database) -> None:
    """Routing's assignments stored before the one write pattern carry `revision`, not `version`:
    the guard `version: None` matches the missing field (MongoDB: equality to null matches
    missing fields), `$inc` creates it, and the next stale guard no longer matches."""
    await db["c"].insert_one({"_id": "a", "status": "routed", "revision": 3})
    update = {"$set": {"status": "needs_triage"}, "$inc": {"version": 1}}
    first = await db["c"].update_one({"_id": "a", "version": None}, update)
    assert first.matched_count == 1
    again = await db["c"].update_one({"_id": "a", "version": None}, update)
    assert again.matched_count == 0
    assert await db["c"].find_one({"_id": "a"}) == {
        "_id": "a",
        "status": "needs_triage",
        "revision": 3,
        "version": 1,
    }


async def test_positional_operator_updates_the_matched_element(db: Database) -> None:
    # "$ (update)": `items.$` is the first element matched by the query on the array.
    await db["c"].insert_one({"_id": 1, "items": [{"id": "a", "done": False}, {"id": "b", "done": False}]})
    await db["c"].update_one({"_id": 1, "items.id": "b"}, {"$set": {"items.$.done": True}})
    assert await db["c"].find_one({"_id": 1}) == {
        "_id": 1,
        "items": [{"id": "a", "done": False}, {"id": "b", "done": True}],
    }


async def test_delete_one_and_many_counts(db: Database) -> None:
    await db["c"].insert_many([{"_id": i, "dev_only": i < 3} for i in range(5)])
    assert (await db["c"].delete_one({"_id": 4})).deleted_count == 1
    assert (await db["c"].delete_one({"_id": 4})).deleted_count == 0
    assert (await db["c"].delete_one({"_id": 3, "user_id": "someone"})).deleted_count == 0
    assert (await db["c"].delete_many({"dev_only": True})).deleted_count == 3
    assert await db["c"].find({}).to_list(None) == [{"_id": 3, "dev_only": False}]
