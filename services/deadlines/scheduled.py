"""The timer loop: fires due timers; on start-up it catches up on those that passed while down."""

from __future__ import annotations

from libs.common.periodic import every
from services.deadlines.flows import DeadlineFlows


async def timer_loop(flows: DeadlineFlows, tick_seconds: float, batch_size: int) -> None:
    """Runs at once when the service starts (catch-up after downtime), then every tick."""
    await every(tick_seconds, lambda: flows.fire_due(batch_size), name="timers", batch=batch_size)
