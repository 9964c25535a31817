"""The broker as the unit tests see it: an `EventBus` stand-in that records what is published."""

from __future__ import annotations

from libs.common.events import Envelope, EventType


class RecordingBus:
    """`publish` appends to `published` (or raises `ConnectionError` while `failing`, as a broker
    that is down would); `of(type)` lists the published envelopes of one event type."""

    def __init__(self, *, failing: bool = False) -> None:
        self.failing = failing
        self.published: list[Envelope] = []

    async def publish(self, envelope: Envelope) -> None:
        if self.failing:
            raise ConnectionError("broker down")
        self.published.append(envelope)

    def of(self, event_type: EventType) -> list[Envelope]:
        return [e for e in self.published if e.type == event_type]
