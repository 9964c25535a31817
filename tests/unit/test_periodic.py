"""One way to run periodic work (libs/common/periodic.py): at once, then every interval; a full
batch runs again at once; failures are survived with a doubling back-off; cancellation ends it."""

from __future__ import annotations

import asyncio

import pytest

from libs.common.periodic import MAX_BACKOFF_SECONDS, backoff, every


class Waits:
    """A stand-in for asyncio.sleep: notes each wait; cancels the loop after `rounds` waits."""

    def __init__(self, rounds: int) -> None:
        self.rounds = rounds
        self.seen: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seen.append(seconds)
        if len(self.seen) >= self.rounds:
            raise asyncio.CancelledError


async def test_a_full_batch_runs_again_at_once_and_a_short_one_waits_the_interval() -> None:
    results = iter([5, 5, 2, 0])
    calls = 0

    async def work() -> int:
        nonlocal calls
        calls += 1
        return next(results)

    waits = Waits(rounds=2)
    with pytest.raises(asyncio.CancelledError):
        await every(3.0, work, name="test", batch=5, sleep=waits)
    assert calls == 4  # 5, 5, 2 in the first round (no wait between), 0 in the second
    assert waits.seen == [3.0, 3.0]


async def test_failures_are_survived_with_a_doubling_backoff_reset_by_a_success() -> None:
    outcomes: list[Exception | None] = [OSError("store away")] * 4 + [None, OSError("again")]
    calls = 0

    async def work() -> None:
        nonlocal calls
        calls += 1
        outcome = outcomes.pop(0)
        if outcome is not None:
            raise outcome

    waits = Waits(rounds=6)
    with pytest.raises(asyncio.CancelledError):
        await every(2.0, work, name="test", sleep=waits)
    assert calls == 6
    assert waits.seen == [2.0, 4.0, 8.0, MAX_BACKOFF_SECONDS, 2.0, 2.0]


def test_the_backoff_never_shortens_a_long_interval() -> None:
    assert backoff(60.0, 0) == backoff(60.0, 1) == backoff(60.0, 5) == 60.0
    assert backoff(0.2, 3) == pytest.approx(0.8)


async def test_cancelling_the_task_stops_the_loop() -> None:
    started = asyncio.Event()

    async def work() -> None:
        started.set()

    task = asyncio.create_task(every(3600.0, work, name="test"))
    await asyncio.wait_for(started.wait(), timeout=5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()
