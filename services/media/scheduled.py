"""Periodic work of the media service (the outbox sweep runs from the shared runtime)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from libs.common.logging import get_logger
from services.media.retention import Retention

log = get_logger(__name__)


def orphan_sweeper(
    retention: Retention, keep_for: timedelta, interval: float
) -> Callable[[], Coroutine[Any, Any, None]]:
    """A loop removing uploads no appeal claimed in time; a failed round is retried next tick."""

    async def loop() -> None:
        while True:
            try:
                await retention.sweep_orphans(keep_for)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("orphan sweep failed", error=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(interval)

    return loop
