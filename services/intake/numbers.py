"""Appeal numbers, `<year>-<six digits>` (2026-000123), from an atomic per-year counter taken in
blocks: a process reserves `block` numbers with one increment and hands them out itself, so a
submit costs a store round trip only once per block, and replicas do not all queue on one counter
document. Numbers are unique and never reused; a process that stops leaves the rest of its block
unused (a gap, as a rejected submission already may), and with several replicas numbers follow the
order of submission only within each replica's block (docs/architecture.md, "Appeal numbers").
"""

from __future__ import annotations

import asyncio

from pymongo import ReturnDocument

from libs.common.store import Database
from services.intake.service import appeal_number

COUNTERS = "counters"


class AppealNumbers:
    """One process's appeal numbers: a block reserved at a time, handed out in order (the module's
    docstring)."""

    def __init__(self, db: Database, block: int = 1) -> None:
        """`block`: numbers reserved per store round trip (1: one round trip per appeal)."""
        if block < 1:
            raise ValueError("block must be at least 1")
        self._db = db
        self._block = block
        self._lock = asyncio.Lock()  # one reservation at a time; the others take from it
        self._year: int | None = None
        self._next, self._last = 1, 0  # the reserved numbers not handed out yet: next..last

    async def next(self, year: int) -> str:
        """The next number of `year`. Raises what the store raises for a reservation."""
        async with self._lock:
            if self._year != year or self._next > self._last:
                counter = await self._db[COUNTERS].find_one_and_update(
                    {"_id": f"appeal-{year}"},
                    {"$inc": {"seq": self._block}},
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
                assert counter is not None  # upsert with ReturnDocument.AFTER always returns it
                self._year, self._last = year, int(counter["seq"])
                self._next = self._last - self._block + 1
            number, self._next = self._next, self._next + 1
        return appeal_number(year, number)
