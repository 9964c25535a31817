"""Use cases: apply an appeal event to its timers; fire due timers exactly once in effect.

One document per appeal (`_id` = appeal id) holds its timers, its SLA record and the pending
events (outbox). Every change is one conditional update guarded by `version`, carrying the
announcing events and the id of the event applied, so a redelivery or a racing replica can
never apply anything twice.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from libs.common import leases
from libs.common.clock import Clock
from libs.common.events import Envelope
from libs.common.leases import LEASE_OWNER, LEASE_UNTIL
from libs.common.logging import bound_context, get_logger
from libs.common.outbox import OutboxRelay, outbox_entry
from libs.common.store import Database, Document
from services.deadlines.dates import truncate_ms
from services.deadlines.expiry import fire, next_due_at
from services.deadlines.schemas import AppealClock, Assignment
from services.deadlines.service import Outcome

log = get_logger(__name__)

TIMERS = "timers"
NEXT_DUE = "next_due_at"
MAX_ATTEMPTS = 5

Step = Callable[[AppealClock | None, datetime], Outcome]


class ConcurrentChange(RuntimeError):
    """The record kept changing under us; the message is retried later."""


class DeadlineFlows:
    def __init__(
        self, db: Database, relay: OutboxRelay, clock: Clock, *, replica_id: str, lease_seconds: float
    ) -> None:
        self._db = db
        self._relay = relay
        self._clock = clock
        self._replica = replica_id
        self._lease = timedelta(seconds=lease_seconds)

    @property
    def collection(self) -> Any:
        return self._db[TIMERS]

    def now(self) -> datetime:
        return truncate_ms(self._clock())

    async def ensure_indexes(self) -> None:
        # Due work is found through this index, never by a scan; closed appeals drop out of it.
        await self.collection.create_index([(NEXT_DUE, ASCENDING)], sparse=True)
        await self.collection.create_index("assignments.received_at")

    # -- events ----------------------------------------------------------------------------

    async def apply(self, envelope: Envelope, appeal_id: str, step: Step, *, creates: bool = False) -> None:
        """Apply `step` to the appeal's record once per event id, whatever the redeliveries."""
        with bound_context({"appeal_id": appeal_id}):
            for _ in range(MAX_ATTEMPTS):
                doc = await self.collection.find_one({"_id": appeal_id})
                if doc is not None and envelope.id in doc.get("applied", []):
                    break
                if doc is None and not creates:
                    # Usually an event overtaking appeal.routed: the broker retries it shortly.
                    raise LookupError(f"no timers for appeal {appeal_id} yet")
                now = self.now()
                outcome = step(None if doc is None else AppealClock.model_validate(doc), now)
                written = await self._store(doc, outcome, envelope, now)
                if written is not None:
                    log.info("event applied", event_type=envelope.type, outcome=outcome.note)
                    await self._flush(appeal_id, written)
                    return
            else:
                raise ConcurrentChange(f"timers of appeal {appeal_id} kept changing")
        await self._flush(appeal_id)  # applied before: publish whatever it left pending

    async def _store(
        self, doc: Document | None, outcome: Outcome, envelope: Envelope, now: datetime
    ) -> list[Document] | None:
        """Write the outcome once: the outbox entries written, or None when another writer came
        first (read again and retry)."""
        entries = self._entries(outcome, envelope.correlation_id)
        if doc is None:
            fresh = {
                "_id": outcome.clock.appeal_id,
                **self._state(outcome, now),
                "version": 1,
                "applied": [envelope.id],
                "outbox": entries,
                "created_at": now,
            }
            if fresh[NEXT_DUE] is None:
                del fresh[NEXT_DUE]
            try:
                await self.collection.insert_one(fresh)
            except DuplicateKeyError:
                return None  # created concurrently: read it and apply on top
            return entries
        if not outcome.changed:
            await self.collection.update_one({"_id": doc["_id"]}, {"$addToSet": {"applied": envelope.id}})
            return []
        update = self._update(outcome, now, entries)
        update.setdefault("$push", {})["applied"] = envelope.id
        result = await self.collection.update_one({"_id": doc["_id"], "version": doc.get("version")}, update)
        return entries if result.matched_count else None

    def _state(self, outcome: Outcome, now: datetime) -> Document:
        return {**outcome.clock.to_document(), NEXT_DUE: next_due_at(outcome.clock), "updated_at": now}

    def _update(self, outcome: Outcome, now: datetime, entries: list[Document]) -> Document:
        state = self._state(outcome, now)
        update: Document = {"$inc": {"version": 1}}
        if state[NEXT_DUE] is None:
            del state[NEXT_DUE]
            update["$unset"] = {NEXT_DUE: ""}
        update["$set"] = state
        if entries:
            update["$push"] = {"outbox": {"$each": entries}}
        return update

    @staticmethod
    def _entries(outcome: Outcome, correlation_id: str) -> list[Document]:
        appeal_id = outcome.clock.appeal_id
        return [
            outbox_entry(kind, payload, source="deadlines", subject=appeal_id, correlation_id=correlation_id)
            for kind, payload in outcome.events
        ]

    async def _flush(self, appeal_id: str, written: list[Document] | None = None) -> None:
        """Publish the entries just written (`written`), or whatever the record holds (None)."""
        try:
            if written is None:
                await self._relay.flush(TIMERS, appeal_id)
            else:
                await self._relay.publish_written(TIMERS, appeal_id, written)
        except Exception as exc:  # stored is decided: the outbox sweep publishes it later
            log.warning("publish deferred to the outbox sweep", appeal_id=appeal_id, error=type(exc).__name__)

    # -- timers ----------------------------------------------------------------------------

    async def claim_due(self, limit: int) -> list[Document]:
        """Lease up to `limit` due records to this replica; others skip them until the lease ends."""
        return await leases.claim_due(
            self.collection, NEXT_DUE, self.now(), self._replica, self._lease, limit
        )

    async def fire_claimed(self, doc: Document) -> int:
        """Fire what is due in one leased record. The version guard keeps the effect exactly once."""
        now = self.now()
        outcome = fire(AppealClock.model_validate(doc), now)
        clock = outcome.clock
        entries = self._entries(outcome, clock.correlation_id)
        update = self._update(outcome, now, entries)
        update.setdefault("$unset", {}).update({LEASE_OWNER: "", LEASE_UNTIL: ""})
        guard = {"_id": doc["_id"], "version": doc.get("version"), LEASE_OWNER: self._replica}
        result = await self.collection.update_one(guard, update)
        if not result.matched_count:
            # An event changed the record meanwhile (or our lease ran out): try again next tick.
            await self._release(doc["_id"])
            return 0
        with bound_context({"appeal_id": clock.appeal_id, "correlation_id": clock.correlation_id}):
            if outcome.events:
                log.info("timers fired", fired=outcome.note)
        await self._flush(clock.appeal_id, entries)
        return len(outcome.events)

    async def _release(self, appeal_id: str) -> None:
        await self.collection.update_one(
            {"_id": appeal_id, LEASE_OWNER: self._replica}, {"$unset": {LEASE_OWNER: "", LEASE_UNTIL: ""}}
        )

    async def fire_due(self, limit: int) -> int:
        """One scheduler pass; returns how many records were claimed (a full batch: run again)."""
        claimed = await self.claim_due(limit)
        for doc in claimed:
            try:
                await self.fire_claimed(doc)
            except Exception as exc:
                # Keep the lease: this record waits `lease_seconds` and the others go on.
                log.error("firing failed", appeal_id=doc["_id"], error=f"{type(exc).__name__}: {exc}")
        return len(claimed)

    # -- reads -----------------------------------------------------------------------------

    async def get(self, appeal_id: str) -> AppealClock | None:
        doc = await self.collection.find_one({"_id": appeal_id})
        return None if doc is None else AppealClock.model_validate(doc)

    async def assignments(self, start: datetime, end: datetime) -> list[Assignment]:
        """Every assignment that reached its organisation in [start, end), through the index."""
        query = {"assignments.received_at": {"$gte": start, "$lt": end}}
        records: list[Assignment] = []
        async for doc in self.collection.find(query, {"assignments": 1}):
            records.extend(Assignment.model_validate(item) for item in doc.get("assignments", []))
        return [record for record in records if start <= record.received_at < end]
