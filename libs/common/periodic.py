"""Periodic work of a service, run one way: the outbox sweep, deadlines' timers, polls' closing,
notify's deferred deliveries, media's orphan sweep, intake's gauges.

`every(interval, work, name=...)` runs `work()` at once (catch-up after downtime), then every
`interval` seconds, for the life of the process; a service hands it to its runtime
(`ServiceRuntime.background`), which starts it once the broker is connected and cancels it on
shutdown. One policy for all of them:

- batches: with `batch=n`, `work()` returns how many items it handled; a full batch (≥ n) may
  mean more are due, so it runs again at once instead of waiting a tick;
- errors: a failing round (the store or the broker away) is logged as `periodic work failed` with
  the loop's name, and the loop survives it; the first is retried after `interval`, further
  consecutive ones back off, doubling the wait up to `max(interval, MAX_BACKOFF_SECONDS)`; the first success resets it;
- logging: `periodic work started` and `periodic work stopped` (cancelled) with the loop's name
  and interval; a recovery after failures is logged once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import NoReturn

from libs.common.logging import get_logger

log = get_logger(__name__)

MAX_BACKOFF_SECONDS = 10.0  # the longest wait after repeated failures (unless the interval is longer)


def backoff(interval: float, failures: int) -> float:
    """Seconds to wait after `failures` consecutive failed rounds: the interval after none or one,
    then doubling (2×, 4×, ...) up to max(interval, MAX_BACKOFF_SECONDS)."""
    if failures <= 1:
        return interval
    return min(interval * 2.0 ** (failures - 1), max(interval, MAX_BACKOFF_SECONDS))


async def every(
    interval: float,
    work: Callable[[], Awaitable[int | None]],
    *,
    name: str,
    batch: int | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> NoReturn:
    """Run `work` now and then every `interval` seconds until cancelled (never returns).

    `batch`: `work` returns how many items it handled, and a round of at least `batch` items is
    followed by another at once. Exceptions from `work` are logged and backed off from (see the
    module's docstring); only cancellation ends the loop (asyncio.CancelledError propagates).
    `sleep` waits between rounds (tests pass their own)."""
    log.info("periodic work started", loop=name, interval_seconds=interval)
    failures = 0
    try:
        while True:
            try:
                while (handled := await work()) is not None and batch is not None and handled >= batch:
                    pass  # a full batch: more may be due right now
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                wait = backoff(interval, failures)
                log.warning(
                    "periodic work failed",
                    loop=name,
                    failures=failures,
                    retry_in_seconds=wait,
                    error=f"{type(exc).__name__}: {exc}",
                )
            else:
                if failures:
                    log.info("periodic work recovered", loop=name, failures=failures)
                failures, wait = 0, interval
            await sleep(wait)
    except asyncio.CancelledError:
        log.info("periodic work stopped", loop=name)
        raise
