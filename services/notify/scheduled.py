"""Background loops of notify. None yet: failed deliveries are retried by the event consumer's
delayed retry queue, and the feed keeps everything. Retention and digests will live here."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from services.notify.flows import NotifyFlows

Loop = Callable[[], Coroutine[Any, Any, None]]


def loops(flows: NotifyFlows) -> list[Loop]:
    return []
