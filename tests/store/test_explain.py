"""`_id` lookups need no collection scan (wire store only: the fake has no query planner), alone
or with the conditions that guard a write.

Every service reads and guards its writes by `_id` (`find_one({"_id": ...})`, `update_one({"_id":
..., "version": ...})`, the outbox relay's flush). MongoDB always has the unique `_id` index
("Indexes: Default _id Index"), so such a lookup reads one document. This asks the wire store's
`explain`: MongoDB's `queryPlanner.winningPlan` must hold no COLLSCAN stage; mongoeco reports its
SQLite plan, where a search narrowed only by database and collection is a scan of the collection.
"""

from __future__ import annotations

from typing import Any

import pytest

from libs.common.store import Database


def _stages(plan: Any) -> list[str]:
    if isinstance(plan, dict):
        own = [str(plan["stage"])] if "stage" in plan else []
        return own + [stage for value in plan.values() for stage in _stages(value)]
    if isinstance(plan, list):
        return [stage for item in plan for stage in _stages(item)]
    return []


def collection_scan(explained: dict[str, Any]) -> bool:
    """Whether the explained find reads the whole collection; skips on an unknown explain shape."""
    if "queryPlanner" in explained:  # MongoDB
        return "COLLSCAN" in _stages(explained["queryPlanner"]["winningPlan"])
    engine = (explained.get("details") or {}).get("engine_details")
    if isinstance(engine, list) and engine:  # mongoeco: SQLite's EXPLAIN QUERY PLAN lines
        lines = [str(line) for line in engine if " documents" in str(line)]
        return all(
            line.startswith("SCAN") or line.rstrip().endswith("(db_name=? AND coll_name=?)") for line in lines
        )
    pytest.skip(f"the wire store's explain has an unknown shape: {sorted(explained)}")


async def test_id_lookup_uses_the_id_index(wire_db: Database) -> None:
    coll = wire_db["appeals"]
    await coll.insert_many([{"_id": f"a{i}", "n": i} for i in range(20)])
    explained = await coll.find({"_id": "a7"}).explain()
    assert await coll.find_one({"_id": "a7"}) == {"_id": "a7", "n": 7}
    assert not collection_scan(explained)


async def test_a_guarded_write_filter_uses_the_id_index(wire_db: Database) -> None:
    """The aggregates' guard (`_id`, `version`, the event not yet applied) and notify's claims
    (`_id`, a status): mongoeco seeks its primary key only for `_id` alone; the local store adds an
    `_id` expression index for the rest (devstack/docstore_index.py)."""
    coll = wire_db["appeals"]
    await coll.insert_many([{"_id": f"a{i}", "version": 1, "applied": [f"e{i}"]} for i in range(20)])
    guard = {"_id": "a7", "version": 1, "applied": {"$ne": "e-new"}}
    explained = await coll.find(guard).explain()
    assert not collection_scan(explained)
    assert [doc["_id"] async for doc in coll.find(guard)] == ["a7"]
    assert await coll.count_documents({**guard, "applied": {"$ne": "e7"}}) == 0
