"""Due work taken by one replica at a time, and the loop that works through it.

A document that is due (`<due_field> <= now`) and not leased is claimed with a conditional
update that sets `lease_owner` and `lease_until`; another replica's claim of the same document
then matches nothing, and a crashed replica's lease simply runs out. Used by the deadlines
timers and the polls' closing (docs/deadlines.md, docs/polls.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, ReturnDocument

from libs.common.logging import get_logger
from libs.common.store import Document

LEASE_OWNER, LEASE_UNTIL = "lease_owner", "lease_until"

log = get_logger(__name__)


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


async def work_due(
    handle_batch: Callable[[int], Awaitable[int]], tick_seconds: float, batch_size: int, what: str
) -> None:
    """Run at once (catch-up after downtime), then every `tick_seconds`: `handle_batch(batch_size)`
    returns how many it handled; a full batch is followed by another at once. A failing tick (the
    store away) is logged as `<what> tick failed` and the next tick tries again. Never returns."""
    while True:
        try:
            while await handle_batch(batch_size) == batch_size:
                pass  # a full batch: more may be due right now
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning(f"{what} tick failed", error=f"{type(exc).__name__}: {exc}")
        await asyncio.sleep(tick_seconds)
