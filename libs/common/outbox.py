"""Transactional outbox without transactions.

A state change and the events announcing it are written in ONE document update: the events go
into the document's `outbox` array. The relay publishes them with confirms and only then pulls
them out. If the process dies in between, the sweep publishes them again: consumers are
idempotent by event id, so at-least-once here is exactly-once in effect.

Pulling published entries out is bookkeeping, not a guarantee, so the relay may defer it
(`pull_delay` seconds, `APPEALS_OUTBOX_PULL_DELAY_SECONDS`): the pulls of every document
published meanwhile go in one `bulk_write`, one store round trip instead of one per state
change. Until then the entries stay in the document: this process's sweep skips what it has
published, and no sweep (another replica's either) publishes an entry younger than
`sweep_grace` seconds, which its writer is still publishing. A crash loses only pending pulls:
the sweep publishes those entries again, which consumers absorb by event id.

An entry is the envelope's JSON form; when tracing is on it also holds `_headers` (the
`traceparent` of the span that stored it), which the relay publishes with, never as part of the
envelope. Entries without it (written with tracing off, or before it existed) publish as before.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from pymongo import UpdateOne

from libs.common.clock import Clock, system_clock
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
    """Publishes outbox entries and pulls them out once confirmed (see the module's docstring).

    `pull_delay`: seconds a confirmed entry may wait for its `$pull` so that several documents'
    pulls share one round trip (0: pulled at once, one `update_one` per document);
    `sweep_grace`: seconds after its `time` before the sweep takes an entry (0: at once)."""

    def __init__(
        self,
        db: Database,
        collections: list[str],
        bus: EventBus,
        *,
        pull_delay: float = 0.0,
        sweep_grace: float = 0.0,
        clock: Clock = system_clock,
    ) -> None:
        self._db = db
        self._collections = collections
        self._bus = bus
        self._pull_delay = pull_delay
        self._sweep_grace = timedelta(seconds=sweep_grace)
        self._clock = clock
        # Documents whose events this process is publishing right now: a flush and the sweep never
        # publish the same document at once (another replica still may: consumers deduplicate).
        self._busy: set[tuple[str, Any]] = set()
        # Published entries (collection -> document id -> entry ids) awaiting their deferred pull,
        # and those whose pull is under way: the sweep skips both, a pull takes only the first.
        self._published: Marks = {}
        self._pulling: Marks = {}
        self._puller: asyncio.Task[None] | None = None

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
        """Publish every pending outbox entry in the collections older than the grace; returns how
        many were published. A document found with such an entry is read again before publishing
        (what the query read may have been pulled since); others cost no second read."""
        published = 0
        young = self._clock() - self._sweep_grace if self._sweep_grace else None
        for name in self._collections:
            found = await self._db[name].find({"outbox.id": {"$exists": True}}, {OUTBOX: 1}).to_list(None)
            for doc in found:
                if self._pending(name, doc["_id"], doc, young):
                    published += await self._publish(name, doc["_id"], older_than=young)
        return published

    async def pull_published(self) -> None:
        """Pull every entry this process has published out of its document now: one unordered
        `bulk_write` per collection. The entries stay marked as published (skipped by the sweep)
        until their pull is stored, and a pull under way is never sent again by the next one.
        Raises what the store raises; the pulls not stored then wait for the next try (the next
        publish or `close`)."""
        batch, self._published = self._published, {}
        _merge(self._pulling, batch)
        try:
            for collection in list(batch):
                docs = batch[collection]
                pulls = [
                    UpdateOne({"_id": doc_id}, {"$pull": {OUTBOX: {"id": {"$in": sorted(ids)}}}})
                    for doc_id, ids in docs.items()
                ]
                await self._db[collection].bulk_write(pulls, ordered=False)
                _remove(self._pulling, {collection: docs})
                del batch[collection]
        finally:  # what was not pulled waits for the next try
            _remove(self._pulling, batch)
            _merge(self._published, batch)

    async def close(self) -> None:
        """Stop waiting and pull what is pending now (on shutdown, before the store closes); a
        store that fails is logged: the sweep publishes those entries again after a restart."""
        if self._puller is not None:
            self._puller.cancel()
            await asyncio.gather(self._puller, return_exceptions=True)
        try:
            await self.pull_published()
        except Exception as exc:
            log.warning("outbox pulls left to the sweep", error=type(exc).__name__)

    def _is_published(self, collection: str, doc_id: Any, entry_id: str) -> bool:
        return any(
            entry_id in marks.get(collection, {}).get(doc_id, ())
            for marks in (self._published, self._pulling)
        )

    def _pending(
        self, collection: str, doc_id: Any, doc: Document, older_than: datetime | None
    ) -> list[Document]:
        """The document's entries this process has not published, written before `older_than`."""
        return [
            raw
            for raw in doc.get(OUTBOX) or []
            if not self._is_published(collection, doc_id, raw["id"])
            and (older_than is None or _written_at(raw) < older_than)
        ]

    async def _pull_later(self) -> None:
        await asyncio.sleep(self._pull_delay)
        self._puller = None
        try:
            await self.pull_published()
        except Exception as exc:
            log.warning("outbox pulls deferred", error=type(exc).__name__)
            if self._puller is None:  # tried again after the delay, also when nothing else is published
                self._puller = asyncio.create_task(self._pull_later(), name="outbox pulls")

    async def _pull(self, collection: str, doc_id: Any, ids: list[str]) -> None:
        if not self._pull_delay:
            await self._db[collection].update_one({"_id": doc_id}, {"$pull": {OUTBOX: {"id": {"$in": ids}}}})
            return
        _merge(self._published, {collection: {doc_id: set(ids)}})
        if self._puller is None:
            self._puller = asyncio.create_task(self._pull_later(), name="outbox pulls")

    async def _publish(
        self,
        collection: str,
        doc_id: Any,
        doc: Document | None = None,
        *,
        older_than: datetime | None = None,
    ) -> int:
        """Publish, then pull, a document's pending events (those written before `older_than`
        when given); read it afresh unless just written."""
        key = (collection, doc_id)
        if key in self._busy:
            return 0  # being published by this process right now; anything left, the sweep takes
        self._busy.add(key)
        try:
            if doc is None:
                doc = await self._db[collection].find_one({"_id": doc_id}, {OUTBOX: 1}) or {}
            pending = self._pending(collection, doc_id, doc, older_than)
            for raw in pending:
                with continued(raw.get(ENTRY_HEADERS)):
                    await self._bus.publish(entry_envelope(raw))
            if pending:
                await self._pull(collection, doc_id, [raw["id"] for raw in pending])
            return len(pending)
        finally:
            self._busy.discard(key)


Marks = dict[str, dict[Any, set[str]]]  # collection -> document id -> outbox entry ids


def _merge(marks: Marks, more: Marks) -> None:
    """Add `more`'s entry ids to `marks`."""
    for collection, docs in more.items():
        for doc_id, ids in docs.items():
            marks.setdefault(collection, {}).setdefault(doc_id, set()).update(ids)


def _remove(marks: Marks, done: Marks) -> None:
    """Take `done`'s entry ids out of `marks`, dropping what becomes empty."""
    for collection, docs in done.items():
        held = marks.get(collection, {})
        for doc_id, ids in docs.items():
            if left := held.get(doc_id, set()) - ids:
                held[doc_id] = left
            else:
                held.pop(doc_id, None)
        if not held:
            marks.pop(collection, None)


def _written_at(entry: Document) -> datetime:
    """When the entry was written: its envelope's `time` (RFC 3339), aware."""
    return datetime.fromisoformat(str(entry["time"]))
