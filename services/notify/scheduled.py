"""Background loops of notify: deferred deliveries (quiet hours, backoff, an admin's re-queue).

Failed deliveries of a live event are retried by the event consumer's delayed retry queue; the
loop sends only what waits for a time of its own, so a night's messages go out in the morning.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from libs.common.periodic import every
from services.notify.delivery import DeliveryEngine

Loop = Callable[[], Coroutine[Any, Any, None]]

BATCH = 100


def deferred_sender(engine: DeliveryEngine, interval: float) -> Loop:
    return lambda: every(interval, lambda: engine.run_due(BATCH), name="deferred deliveries", batch=BATCH)


def loops(engine: DeliveryEngine, interval: float) -> list[Loop]:
    return [deferred_sender(engine, interval)]
