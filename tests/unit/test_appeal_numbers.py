"""Appeal numbers taken from the per-year counter in blocks (services/intake/numbers.py): unique
across processes, one store round trip per block, a new year starts its own sequence."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from libs.common.store import open_store
from services.intake.numbers import AppealNumbers
from tests.unit.store_fakes import CountingDb


async def test_a_block_is_one_round_trip_and_replicas_never_share_a_number() -> None:
    db = CountingDb(open_store(None, f"numbers_{uuid.uuid4().hex[:8]}").db)
    first, second = AppealNumbers(db, block=3), AppealNumbers(db, block=3)  # two replicas
    taken = [await first.next(2026) for _ in range(4)] + [await second.next(2026) for _ in range(2)]
    assert taken == ["2026-000001", "2026-000002", "2026-000003", "2026-000004", "2026-000007", "2026-000008"]
    assert db.calls.count("counters.find_one_and_update") == 3  # blocks 1-3, 4-6 (first), 7-9 (second)
    # concurrent submits of one process share its block: no number twice, one reservation more
    together = await asyncio.gather(*(first.next(2026) for _ in range(4)))
    assert sorted(together) == ["2026-000005", "2026-000006", "2026-000010", "2026-000011"]
    assert db.calls.count("counters.find_one_and_update") == 4


async def test_a_new_year_starts_its_own_sequence_and_a_block_of_one_is_the_plain_counter() -> None:
    db = CountingDb(open_store(None, f"numbers_{uuid.uuid4().hex[:8]}").db)
    numbers = AppealNumbers(db, block=10)
    assert await numbers.next(2026) == "2026-000001"
    assert await numbers.next(2027) == "2027-000001"
    plain = AppealNumbers(db, block=1)
    assert [await plain.next(2027) for _ in range(2)] == ["2027-000011", "2027-000012"]
    assert db.calls.count("counters.find_one_and_update") == 4
    with pytest.raises(ValueError, match="at least 1"):
        AppealNumbers(db, block=0)
