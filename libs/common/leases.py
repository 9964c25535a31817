"""Due work taken by one replica at a time (the loop that works through it: libs/common/periodic.py).

A document that is due (`<due_field> <= now`) and not leased is claimed with a conditional
update that sets `lease_owner` and `lease_until`; another replica's claim of the same document
then matches nothing, and a crashed replica's lease simply runs out. Used by the deadlines
timers and the polls' closing (docs/deadlines.md, docs/polls.md).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, ReturnDocument

from libs.common.store import Document

LEASE_OWNER, LEASE_UNTIL = "lease_owner", "lease_until"


async def claim_due(
    collection: Any, due_field: str, now: datetime, owner: str, lease: timedelta, limit: int
) -> list[Document]:
    """Lease up to `limit` documents due at `now` (earliest first) to `owner` for `lease`.

    Returns the claimed documents as they are after the claim; others skip them until the lease
    ends. Store errors propagate (PyMongo's)."""
    free = [{LEASE_UNTIL: {"$exists": False}}, {LEASE_UNTIL: {"$lte": now}}]
    query = {due_field: {"$lte": now}, "$or": free}
    candidates = (
        await collection.find(query, {"_id": 1}).sort(due_field, ASCENDING).limit(limit).to_list(limit)
    )
    claimed: list[Document] = []
    for candidate in candidates:
        doc = await collection.find_one_and_update(
            {"_id": candidate["_id"], **query},
            {"$set": {LEASE_OWNER: owner, LEASE_UNTIL: now + lease}},
            return_document=ReturnDocument.AFTER,
        )
        if doc is not None:  # else another replica claimed it first
            claimed.append(doc)
    return claimed
