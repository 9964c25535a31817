"""Submissions per caller per minute, counted in the store so every gateway replica shares it."""

from __future__ import annotations

from datetime import timedelta

from pymongo import ReturnDocument

from libs.common.clock import Clock
from libs.common.http import Problem
from libs.common.store import Database

RATE_LIMITS = "rate_limits"
WINDOW = timedelta(minutes=1)


class SubmitRateLimit:
    def __init__(self, db: Database, clock: Clock, per_minute: int) -> None:
        self._db = db
        self._clock = clock
        self._per_minute = per_minute

    async def ensure_indexes(self) -> None:
        # Old windows expire on their own (MongoDB's TTL monitor).
        await self._db[RATE_LIMITS].create_index("expires_at", expireAfterSeconds=0)

    async def check(self, caller: str) -> None:
        now = self._clock()
        window = int(now.timestamp() // WINDOW.total_seconds())
        counter = await self._db[RATE_LIMITS].find_one_and_update(
            {"_id": f"{caller}:{window}"},
            {"$inc": {"count": 1}, "$setOnInsert": {"expires_at": now + 2 * WINDOW}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        if counter and counter["count"] > self._per_minute:
            retry_after = int(WINDOW.total_seconds() - now.timestamp() % WINDOW.total_seconds()) + 1
            raise Problem(
                429,
                f"too many appeals: at most {self._per_minute} per minute; try again in {retry_after} s",
                headers={"Retry-After": str(retry_after)},
            )
