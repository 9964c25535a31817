"""Transactional outbox without transactions.

A state change and the events announcing it are written in ONE document update: the events go
into the document's `outbox` array. The relay publishes them with confirms and only then pulls
them out. If the process dies in between, the sweep publishes them again: consumers are
idempotent by event id, so at-least-once here is exactly-once in effect.

An entry is the envelope's JSON form; when tracing is on it also holds `_headers` (the
`traceparent` of the span that stored it), which the relay publishes with, never as part of the
envelope. Entries without it (written with tracing off, or before it existed) publish as before.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from libs.common.events import Envelope, EventType, new_event
from libs.common.logging import get_logger
from libs.common.messaging import EventBus
from libs.common.store import Database, Document
from libs.common.tracing import continued, current_trace_headers

log = get_logger(__name__)

OUTBOX = "outbox"
# Beside the envelope's attributes in an entry; CloudEvents names are [a-z0-9], so never one of them.
ENTRY_HEADERS = "_headers"


def outbox_entry(
    event_type: EventType, payload: BaseModel, *, source: str, subject: str, correlation_id: str
) -> Document:
    """An envelope ready to `$push` into a document's outbox in the same update as the state."""
    envelope = new_event(event_type, payload, source=source, subject=subject, correlation_id=correlation_id)
    entry = envelope.model_dump(mode="json")
    if trace_headers := current_trace_headers():  # tracing on: the relay continues this trace
        entry[ENTRY_HEADERS] = trace_headers
    return entry


def entry_envelope(entry: Document) -> Envelope:
    """The envelope an outbox entry holds (old entries are the bare envelope)."""
    return Envelope.model_validate({key: value for key, value in entry.items() if key != ENTRY_HEADERS})


class OutboxRelay:
    def __init__(self, db: Database, collections: list[str], bus: EventBus) -> None:
        self._db = db
        self._collections = collections
        self._bus = bus
        # Documents whose events this process is publishing right now: a flush and the sweep never
        # publish the same document at once (another replica still may: consumers deduplicate).
        self._busy: set[tuple[str, Any]] = set()

    async def ensure_indexes(self) -> None:
        """A sparse index on `outbox.id` in each collection, for the sweep's query."""
        for name in self._collections:
            await self._db[name].create_index("outbox.id", sparse=True)

    async def flush(self, collection: str, doc_id: Any) -> None:
        """Publish one document's pending events now (right after the write that added them)."""
        await self._publish(collection, doc_id)

    async def publish_written(self, collection: str, doc_id: Any, entries: list[Document]) -> None:
        """`flush` for the entries this process has just written into a document's outbox (by an
        insert or an update): published and pulled without reading the document back; none, no
        round trip. Entries an earlier, failed flush left behind are the sweep's. Raises what the
        broker or the store raise; the entries then stay for the sweep."""
        if entries:
            await self._publish(collection, doc_id, {OUTBOX: entries})

    async def sweep(self) -> int:
        """Publish every pending outbox entry in the collections; returns how many were published."""
        published = 0
        for name in self._collections:
            pending = await self._db[name].find({"outbox.id": {"$exists": True}}, {"_id": 1}).to_list(None)
            for found in pending:
                published += await self._publish(name, found["_id"])
        return published

    async def _publish(self, collection: str, doc_id: Any, doc: Document | None = None) -> int:
        """Publish, then pull, a document's pending events; read it afresh unless just written."""
        key = (collection, doc_id)
        if key in self._busy:
            return 0  # being published by this process right now; anything left, the sweep takes
        self._busy.add(key)
        try:
            if doc is None:
                doc = await self._db[collection].find_one({"_id": doc_id}, {OUTBOX: 1}) or {}
            pending = doc.get(OUTBOX) or []
            for raw in pending:
                with continued(raw.get(ENTRY_HEADERS)):
                    await self._bus.publish(entry_envelope(raw))
            if pending:
                ids = [raw["id"] for raw in pending]
                await self._db[collection].update_one(
                    {"_id": doc_id}, {"$pull": {OUTBOX: {"id": {"$in": ids}}}}
                )
            return len(pending)
        finally:
            self._busy.discard(key)
