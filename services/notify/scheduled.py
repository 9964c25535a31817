"""Background loops of notify: deferred deliveries (quiet hours, backoff, an admin's re-queue).

Failed deliveries of a live event are retried by the event consumer's delayed retry queue; the
loop sends only what waits for a time of its own, so a night's messages go out in the morning.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from libs.common.logging import get_logger
from services.notify.delivery import DeliveryEngine

Loop = Callable[[], Coroutine[Any, Any, None]]

log = get_logger(__name__)

BATCH = 100


def deferred_sender(engine: DeliveryEngine, interval: float) -> Loop:
    async def run() -> None:
        while True:
            try:
                while await engine.run_due(BATCH) >= BATCH:
                    pass  # a full batch may mean more are due: look again at once
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the store may be away; the next tick tries again
                log.warning("deferred deliveries: tick failed", error=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(interval)

    return run


def loops(engine: DeliveryEngine, interval: float) -> list[Loop]:
    return [deferred_sender(engine, interval)]
