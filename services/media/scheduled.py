"""Periodic work of the media service (the outbox sweep runs from the shared runtime)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from libs.common.periodic import every
from services.media.retention import Retention


def orphan_sweeper(
    retention: Retention, keep_for: timedelta, interval: float
) -> Callable[[], Coroutine[Any, Any, None]]:
    """A loop removing uploads no appeal claimed in time (failures: libs/common/periodic.py)."""
    return lambda: every(interval, lambda: retention.sweep_orphans(keep_for), name="orphan sweep")
