"""The closing loop: closes polls whose time has come; on start-up it catches up on those that
came due while the service was down."""

from __future__ import annotations

from libs.common.periodic import every
from services.polls.flows import PollFlows


async def closing_loop(flows: PollFlows, tick_seconds: float, batch_size: int) -> None:
    """Runs at once when the service starts (catch-up after downtime), then every tick."""
    await every(tick_seconds, lambda: flows.close_due(batch_size), name="poll closing", batch=batch_size)
