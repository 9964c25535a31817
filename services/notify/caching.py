"""Per-process memory of what notify reads for nearly every event, so that it does not ask the
store each time (docs/notify.md, "What notify keeps in memory").

- `OrgCache`: organisation-level data that changes rarely (an organisation's contacts, the push
  subscriptions of its operators, its webhooks and the social ones). An entry lives `ttl` seconds
  from the moment its read began; a write this process makes drops the entries it touches at once,
  so a webhook registered here is used for the very next event. A write made through another
  replica is seen at most `ttl` seconds later.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import TypeVar, cast

from prometheus_client import Counter

T = TypeVar("T")

Seconds = Callable[[], float]  # a monotonic clock in seconds (time.monotonic; tests move their own)

CACHE_READS = Counter(
    "appeals_notify_cache_reads_total", "Reads of notify's in-memory caches", ["cache", "outcome"]
)


class OrgCache:
    """Values by key for `ttl` seconds, dropped at once by this process's own writes (`forget`).

    A read that began before a write finished may return what was there before it, but is not
    kept: every `forget` starts a new epoch, and only a read that began and ended in one epoch is
    stored. Callers asking for a key while its read is in flight share that read (one round trip
    when many events of one organisation arrive at once). `ttl` 0 keeps nothing."""

    def __init__(self, ttl: float, *, now: Seconds = time.monotonic, max_entries: int = 4096) -> None:
        self._ttl = ttl
        self._now = now
        self._max = max_entries
        self._entries: OrderedDict[Hashable, tuple[float, object]] = OrderedDict()
        self._reading: dict[Hashable, asyncio.Future[object]] = {}
        self._epoch = 0
        self._hit, self._miss = CACHE_READS.labels("org", "hit"), CACHE_READS.labels("org", "miss")
        self._shared = CACHE_READS.labels("org", "shared")

    @property
    def ttl(self) -> float:
        return self._ttl

    async def get(self, key: Hashable, load: Callable[[], Awaitable[T]]) -> T:
        """The value kept for `key`, else `load()`'s (kept for `ttl` seconds from now). Values are
        shared between callers: they must not be changed (tuples, frozen models)."""
        began = self._now()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > began:
            self._hit.inc()
            self._entries.move_to_end(key)
            return entry[1]  # type: ignore[return-value]
        reading = self._reading.get(key)
        if reading is None:
            self._miss.inc()
            task: asyncio.Task[T] = asyncio.ensure_future(self._read(key, load, began, self._epoch))
            task.add_done_callback(_retrieved)
            self._reading[key] = cast("asyncio.Future[object]", task)
            reading = self._reading[key]
        else:
            self._shared.inc()
        # Shielded: a caller cancelled meanwhile does not cancel the read the others wait for.
        return cast(T, await asyncio.shield(reading))

    async def _read(self, key: Hashable, load: Callable[[], Awaitable[T]], began: float, epoch: int) -> T:
        try:
            value = await load()
        finally:
            if self._reading.get(key) is asyncio.current_task():
                del self._reading[key]
        if self._ttl > 0 and epoch == self._epoch:
            self._entries[key] = (began + self._ttl, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return value

    def forget(self, *keys: Hashable) -> None:
        """This process wrote what these keys hold: drop them, and keep no read still in flight
        (callers from now on read again)."""
        self._epoch += 1
        for key in keys:
            self._entries.pop(key, None)
            self._reading.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)


def _retrieved(read: asyncio.Future[T]) -> None:
    """A failed read whose callers were all cancelled: its error is theirs, not the loop's to log."""
    if not read.cancelled():
        read.exception()
