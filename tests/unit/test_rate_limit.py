"""Writes per caller per minute (services/intake/ratelimit.py): one counter per kind, caller and
minute; no caller id, whatever characters it holds, shares another's counter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import mongomock
import pytest

from libs.common.clock import ManualClock
from libs.common.http import Problem
from libs.common.store import InMemoryDatabase
from services.intake.ratelimit import RATE_LIMITS, RateLimit, WriteKind


def limiter(per_minute: int = 2) -> tuple[RateLimit, ManualClock, InMemoryDatabase]:
    db = InMemoryDatabase(mongomock.MongoClient(tz_aware=True)["limits"])
    clock = ManualClock(datetime(2026, 3, 2, 9, 0, 10, tzinfo=UTC))
    limits = {WriteKind.SUBMIT: per_minute, WriteKind.COMMENT: per_minute}
    return RateLimit(db, clock, limits), clock, db  # type: ignore[arg-type]


async def test_the_third_write_in_a_minute_is_refused_with_retry_after() -> None:
    limit, clock, _ = limiter()
    await limit.check("citizen-1")
    await limit.check("citizen-1")
    with pytest.raises(Problem) as refused:
        await limit.check("citizen-1")
    assert refused.value.status == 429 and refused.value.headers == {"Retry-After": "51"}
    await limit.check("citizen-1", WriteKind.COMMENT)  # another kind: its own allowance
    clock.advance(timedelta(minutes=1))
    await limit.check("citizen-1")  # a new minute


async def test_callers_whose_ids_look_alike_never_share_a_counter() -> None:
    limit, _, db = limiter(per_minute=1)
    lookalikes = ["a:b", "a", 'a", "b', 'a\\", "b', "a:b:submit", "а"]  # the last is Cyrillic
    for caller in lookalikes:
        await limit.check(caller)  # each one's first write of the minute
    assert await db[RATE_LIMITS].count_documents({}) == len(lookalikes)
