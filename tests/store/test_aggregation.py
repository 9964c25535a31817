"""Aggregation: `aggregate` is awaited and gives a cursor; `$match`, `$group` with `$sum`.

Pins:
- intake `refresh_gauges`: `[{$group: {_id: "$status", count: {$sum: 1}}}]`, read with `async for`;
- routing `zones`: `[{$match: {status, submitted_at $gte}}, {$group: {_id: {area: "$area_id",
  topic: "$topic"}, n: {$sum: 1}}}]`, read with `to_list(None)` (a null `area_id` groups under
  `{"area": None, ...}`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from libs.common.store import Database

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _by_id(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda row: json.dumps(row["_id"], sort_keys=True))


async def test_group_by_a_field_counts_with_sum(db: Database) -> None:
    await db["appeals"].insert_many(
        [{"status": "received"}, {"status": "routed"}, {"status": "routed"}, {"status": "closed"}]
    )
    cursor = await db["appeals"].aggregate([{"$group": {"_id": "$status", "count": {"$sum": 1}}}])
    counts = {row["_id"]: row["count"] async for row in cursor}
    assert counts == {"received": 1, "routed": 2, "closed": 1}


async def test_group_by_a_missing_or_null_field_is_a_null_key(db: Database) -> None:
    # "$group": documents whose group-by field is missing or null share the `_id: null` group.
    await db["appeals"].insert_many([{"status": "routed"}, {"status": None}, {}])
    cursor = await db["appeals"].aggregate([{"$group": {"_id": "$status", "count": {"$sum": 1}}}])
    assert _by_id(await cursor.to_list(None)) == _by_id(
        [{"_id": "routed", "count": 1}, {"_id": None, "count": 2}]
    )


async def test_match_then_group_by_a_compound_key(db: Database) -> None:
    since = T0 - timedelta(days=30)
    await db["assignments"].insert_many(
        [
            {"status": "routed", "submitted_at": T0, "area_id": "A1", "topic": "roads"},
            {"status": "routed", "submitted_at": T0, "area_id": "A1", "topic": "roads"},
            {"status": "routed", "submitted_at": T0, "area_id": "A1", "topic": "light"},
            {"status": "routed", "submitted_at": T0, "area_id": None, "topic": "roads"},
            {"status": "held", "submitted_at": T0, "area_id": "A1", "topic": "roads"},
            {
                "status": "routed",
                "submitted_at": since - timedelta(days=1),
                "area_id": "A1",
                "topic": "roads",
            },
        ]
    )
    pipeline = [
        {"$match": {"status": "routed", "submitted_at": {"$gte": since}}},
        {"$group": {"_id": {"area": "$area_id", "topic": "$topic"}, "n": {"$sum": 1}}},
    ]
    rows = await (await db["assignments"].aggregate(pipeline)).to_list(None)
    assert _by_id(rows) == _by_id(
        [
            {"_id": {"area": "A1", "topic": "roads"}, "n": 2},
            {"_id": {"area": "A1", "topic": "light"}, "n": 1},
            {"_id": {"area": None, "topic": "roads"}, "n": 1},
        ]
    )


async def test_aggregate_over_nothing_is_empty(db: Database) -> None:
    cursor = await db["empty"].aggregate(
        [{"$match": {"status": "routed"}}, {"$group": {"_id": "$s", "n": {"$sum": 1}}}]
    )
    assert [row async for row in cursor] == []
