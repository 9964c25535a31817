"""Use cases: apply an appeal event to its timers; fire due timers exactly once in effect.

One document per appeal (`_id` = appeal id) holds its timers, its SLA record and the pending
events (outbox). Every change is the platform's one write pattern (`libs/common/aggregate.py`):
one conditional update guarded by `version`, carrying the announcing events and the id of the
event applied, so a redelivery or a racing replica can never apply anything twice.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING

from libs.common import leases
from libs.common.aggregate import Aggregate, Change
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

TIMERS = "timers"  # the one place that names the collection
NEXT_DUE = "next_due_at"

Step = Callable[[AppealClock | None, datetime], Outcome]


class DeadlineFlows:
    def __init__(
        self, db: Database, relay: OutboxRelay, clock: Clock, *, replica_id: str, lease_seconds: float
    ) -> None:
        self._db = db
        self._clock = clock
        self._replica = replica_id
        self._lease = timedelta(seconds=lease_seconds)
        self._timers = Aggregate(db, TIMERS, relay)

    @property
    def collection(self) -> Any:
        """The `TIMERS` collection: one clock record per appeal."""
        return self._db[TIMERS]

    def now(self) -> datetime:
        """The clock's time cut to milliseconds (what the store gives back)."""
        return truncate_ms(self._clock())

    async def ensure_indexes(self) -> None:
        # Due work is found through this index, never by a scan; closed appeals drop out of it.
        """A sparse index on the next due moment (due work is found without a scan; closed clocks
        drop out) and one on the assignments' `received_at` (the statistics' periods)."""
        await self.collection.create_index([(NEXT_DUE, ASCENDING)], sparse=True)
        await self.collection.create_index("assignments.received_at")

    # -- events ----------------------------------------------------------------------------

    async def apply(self, envelope: Envelope, appeal_id: str, step: Step, *, creates: bool = False) -> None:
        """Apply `step` to the appeal's record once per event id, whatever the redeliveries
        (`libs.common.aggregate.Aggregate.apply`). Raises `LookupError` when the appeal has no
        record and `creates` is False (usually an event overtaking `appeal.routed`: the broker
        retries it shortly), `ConcurrentChange` when the record kept changing."""

        def decide(doc: Document | None) -> Change:
            """The change `step` makes to the stored record (an empty Change when nothing changed)."""
            now = self.now()
            outcome = step(None if doc is None else AppealClock.model_validate(doc), now)
            decided.append(outcome)
            if not outcome.changed:
                return Change()
            return self._change(outcome, now, envelope.correlation_id)

        decided: list[Outcome] = []
        with bound_context({"appeal_id": appeal_id}):
            if await self._timers.apply(envelope.id, appeal_id, decide, creates=creates) is not None:
                log.info("event applied", event_type=envelope.type, outcome=decided[-1].note)

    def _change(self, outcome: Outcome, now: datetime, correlation_id: str) -> Change:
        """The record's new state and the events announcing it; `next_due_at` removed when
        nothing is due any more (the record drops out of the due index)."""
        clock = outcome.clock
        state = {**clock.to_document(), NEXT_DUE: next_due_at(clock), "updated_at": now}
        unset = [NEXT_DUE] if state[NEXT_DUE] is None else []
        if unset:
            del state[NEXT_DUE]
        events = [
            outbox_entry(
                kind, payload, source="deadlines", subject=clock.appeal_id, correlation_id=correlation_id
            )
            for kind, payload in outcome.events
        ]
        return Change(set=state, unset=unset, events=events, on_insert={"created_at": now})

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
        change = self._change(outcome, now, clock.correlation_id)
        change.unset += [LEASE_OWNER, LEASE_UNTIL]
        written = await self._timers.write(doc["_id"], change, read=doc, where={LEASE_OWNER: self._replica})
        if not written:
            # An event changed the record meanwhile (or our lease ran out): try again next tick.
            await self._release(doc["_id"])
            return 0
        with bound_context({"appeal_id": clock.appeal_id, "correlation_id": clock.correlation_id}):
            if outcome.events:
                log.info("timers fired", fired=outcome.note)
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
        """The appeal's clock (timers, assignments, SLA record, extensions), None if it has none."""
        doc = await self.collection.find_one({"_id": appeal_id})
        return None if doc is None else AppealClock.model_validate(doc)

    async def assignments(self, start: datetime, end: datetime) -> list[Assignment]:
        """Every assignment that reached its organisation in [start, end), through the index."""
        query = {"assignments.received_at": {"$gte": start, "$lt": end}}
        records: list[Assignment] = []
        async for doc in self.collection.find(query, {"assignments": 1}):
            records.extend(Assignment.model_validate(item) for item in doc.get("assignments", []))
        return [record for record in records if start <= record.received_at < end]
