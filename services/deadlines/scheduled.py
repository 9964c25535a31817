"""The timer loop: fires due timers; on start-up it catches up on those that passed while down."""

from __future__ import annotations

import asyncio

from libs.common.logging import get_logger
from services.deadlines.flows import DeadlineFlows

log = get_logger(__name__)


async def timer_loop(flows: DeadlineFlows, tick_seconds: float, batch_size: int) -> None:
    """Runs at once when the service starts (catch-up after downtime), then every tick."""
    while True:
        try:
            while await flows.fire_due(batch_size) == batch_size:
                pass  # a full batch: more may be due right now
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the store may be away; the next tick tries again
            log.warning("timer tick failed", error=f"{type(exc).__name__}: {exc}")
        await asyncio.sleep(tick_seconds)
