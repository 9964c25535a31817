"""The closing loop: closes polls whose time has come; on start-up it catches up on those that
came due while the service was down."""

from __future__ import annotations

import asyncio

from libs.common.logging import get_logger
from services.polls.flows import PollFlows

log = get_logger(__name__)


async def closing_loop(flows: PollFlows, tick_seconds: float, batch_size: int) -> None:
    """Runs at once when the service starts (catch-up after downtime), then every tick."""
    while True:
        try:
            while await flows.close_due(batch_size) == batch_size:
                pass  # a full batch: more may be due right now
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the store may be away; the next tick tries again
            log.warning("closing tick failed", error=f"{type(exc).__name__}: {exc}")
        await asyncio.sleep(tick_seconds)
