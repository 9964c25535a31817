"""The platform's one write pattern: decide purely, write once with a guard, then publish.

Every aggregate (intake's appeals, routing's assignments, deadlines' timers, polls' polls) keeps
one document per record and changes it the same way:

1. read the document; a pure function decides a `Change` from it (state, history entries, the
   events announcing it as outbox entries);
2. ONE conditional single-document update writes the change, guarded by the `version` the
   decision was made on (and, for an event's effect, by `applied: {$ne: event id}`), with
   `$inc: {version: 1}`, the outbox entries and the applied event id in the same update;
3. the entries just written are published (`OutboxRelay.publish_written`, no read back).

One policy for all of them (docs/architecture.md, "The write pattern"):

- **Guard field**: `version` (`VERSION`), an integer incremented by every guarded write. A record
  that has none yet (stored before the field existed) matches the guard `version: None`.
- **Lost race**: a guard that no longer matches means another writer came first: `write` returns
  False and `Aggregate.apply` reads again and decides again, at most `MAX_ATTEMPTS` times, then
  raises `ConcurrentChange` (the broker retries the event later).
- **Once per event**: the event id goes into `applied` in the same update (`$push`), the guard
  refuses a second one; an event that changes nothing is recorded with `$addToSet` alone.
- **Publishing**: a failed publish after a stored write is logged (`publish deferred to the
  outbox sweep`) and never raised: the write is the commitment, and the relay's periodic sweep
  publishes whatever is left in the outbox.
- **Just inserted**: a record this process has just inserted is known as written (version 1);
  the first event applied to it (intake's `appeal.routed` after the submit) is decided on that
  copy instead of a read. The version guard makes this safe: if anyone wrote the record since,
  the guarded write matches nothing and the record is read and decided again as usual.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pymongo.errors import DuplicateKeyError

from libs.common.logging import get_logger
from libs.common.outbox import OUTBOX, OutboxRelay
from libs.common.store import Database, Document

log = get_logger(__name__)

VERSION = "version"
APPLIED = "applied"
MAX_ATTEMPTS = 5
JUST_INSERTED = 512  # copies of records inserted by this process, kept for their first event


class ConcurrentChange(RuntimeError):
    """The record kept changing under us for `MAX_ATTEMPTS` reads; the caller retries later."""


@dataclass
class Change:
    """One decided change of a record, written in one update.

    `set`: fields to set (dotted paths allowed); `unset`: fields to remove; `push`: one item each
    to append to an array field (a history or timeline entry, an answer); `add_to_set`: one item
    each to add to an array field if absent; `events`: outbox entries (`outbox_entry`) announcing
    the change; `on_insert`: fields only a new record gets (`Aggregate.apply(creates=True)`).
    An empty change (nothing of these) writes nothing but the applied event id.
    """

    set: Document = field(default_factory=dict)
    unset: list[str] = field(default_factory=list)
    push: Document = field(default_factory=dict)
    add_to_set: Document = field(default_factory=dict)
    events: list[Document] = field(default_factory=list)
    on_insert: Document = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """True when the change would write nothing and publish nothing."""
        return not (self.set or self.unset or self.push or self.add_to_set or self.events)

    def update(self, event_id: str | None = None) -> Document:
        """The MongoDB update document: `$set`, `$unset`, `$push` (the outbox with `$each`, the
        event id into `applied`), `$addToSet` and `$inc: {version: 1}`."""
        update: Document = {"$inc": {VERSION: 1}}
        if self.set:
            update["$set"] = dict(self.set)
        if self.unset:
            update["$unset"] = {name: "" for name in self.unset}
        push: Document = dict(self.push)
        if self.events:
            push[OUTBOX] = {"$each": list(self.events)}
        if event_id is not None:
            push[APPLIED] = event_id
        if push:
            update["$push"] = push
        if self.add_to_set:
            update["$addToSet"] = dict(self.add_to_set)
        return update

    def document(self, doc_id: Any, event_id: str | None = None) -> Document:
        """The change as a new record (`version` 1): pushed items become one-item arrays, unset
        fields are simply absent."""
        doc: Document = {"_id": doc_id, **self.on_insert, **self.set, VERSION: 1}
        for name, item in {**self.push, **self.add_to_set}.items():
            doc[name] = [item]
        doc[OUTBOX] = list(self.events)
        doc[APPLIED] = [] if event_id is None else [event_id]
        return doc


Decide = Callable[[Document | None], Change]


class Aggregate:
    """One collection's guarded writes and their publishing (see the module's policy)."""

    def __init__(self, db: Database, name: str, relay: OutboxRelay) -> None:
        self.name = name
        self._db = db
        self._relay = relay
        self._just_inserted: OrderedDict[Any, Document] = OrderedDict()  # id -> the document written

    @property
    def collection(self) -> Any:
        """The aggregate's collection in the service's database."""
        return self._db[self.name]

    async def write(
        self,
        doc_id: Any,
        change: Change,
        *,
        read: Document | None,
        event_id: str | None = None,
        where: Document | None = None,
    ) -> bool:
        """Write `change` in one update and publish its events. `read`: the document the change
        was decided on (its `version` guards the write), or None for a write that does not depend
        on the state (no version guard); `event_id`: written into `applied`, at most once; `where`:
        further guard conditions (a status, a lease owner). Returns False, writing nothing, when
        the guard no longer matches (another writer came first, or the event was applied, or no
        such record). Raises what the store raises for the update; never for the publish."""
        guard: Document = {"_id": doc_id, **(where or {})}
        if read is not None:
            guard[VERSION] = read.get(VERSION)
        if event_id is not None:
            guard[APPLIED] = {"$ne": event_id}
        result = await self.collection.update_one(guard, change.update(event_id))
        if not result.matched_count:
            return False
        await self.publish(doc_id, change.events)
        return True

    async def insert(self, doc: Document) -> bool:
        """Insert a new record (its outbox included) and publish its outbox without reading it
        back. Returns False when a record with its `_id` exists (a duplicate: the caller decides
        what that means). Raises what the store raises otherwise."""
        try:
            await self.collection.insert_one(doc)
        except DuplicateKeyError:
            return False
        self._just_inserted[doc["_id"]] = copy.deepcopy(doc)
        if len(self._just_inserted) > JUST_INSERTED:
            self._just_inserted.popitem(last=False)
        await self.publish(doc["_id"], doc.get(OUTBOX) or [])
        return True

    async def mark_applied(self, doc_id: Any, event_id: str) -> None:
        """Record an event that changes nothing as applied (`$addToSet`, the version unchanged)."""
        await self.collection.update_one({"_id": doc_id}, {"$addToSet": {APPLIED: event_id}})

    async def publish(self, doc_id: Any, entries: list[Document] | None = None) -> None:
        """Publish the outbox `entries` just written, or (None) whatever the record holds pending.
        A failure is logged and left to the outbox sweep, never raised: the write is the
        commitment (the module's policy)."""
        try:
            if entries is None:
                await self._relay.flush(self.name, doc_id)
            else:
                await self._relay.publish_written(self.name, doc_id, entries)
        except Exception as exc:
            log.warning(
                "publish deferred to the outbox sweep", collection=self.name, error=type(exc).__name__
            )

    async def apply(
        self, event_id: str, doc_id: Any, decide: Decide, *, creates: bool = False
    ) -> Change | None:
        """Apply an event's effect to one record exactly once, however often it is delivered.

        Reads the record, calls `decide(doc)` (pure; `doc` is None only with `creates`) and
        writes the change guarded by the version read and the event id; a lost race reads and
        decides again. An empty change records the event id alone. A record that already holds
        the event id is not decided again: its pending outbox is published instead. With
        `creates` the record is usually new, so the change for no record is inserted first and
        the record read only when one exists (one round trip instead of two).

        Returns the change written, or None when the event had been applied before. Raises
        `LookupError` when there is no record and not `creates`, `ConcurrentChange` after
        `MAX_ATTEMPTS` lost races, and whatever `decide` or the store raise.
        """
        if creates:
            change = decide(None)
            if await self.insert(change.document(doc_id, event_id)):
                return change
        known = self._just_inserted.pop(doc_id, None)
        for _ in range(MAX_ATTEMPTS):
            doc = known or await self.collection.find_one({"_id": doc_id})
            from_copy, known = known is not None, None  # a copy is tried once, then the record read
            if doc is None and not creates:
                raise LookupError(f"no {self.name} record {doc_id}")
            if doc is not None and event_id in doc.get(APPLIED, []):
                await self.publish(doc_id)  # applied before: publish whatever it left pending
                return None
            change = decide(doc)
            if doc is None:
                if await self.insert(change.document(doc_id, event_id)):
                    return change
                continue  # created concurrently: decide again on top of it
            if change.empty:
                if from_copy:  # "nothing to do" is recorded unguarded: decide it on the record
                    continue
                await self.mark_applied(doc_id, event_id)
                return change
            if await self.write(doc_id, change, read=doc, event_id=event_id):
                return change
        raise ConcurrentChange(f"{self.name} record {doc_id} kept changing; will retry")
