"""Arm timers when an appeal is routed; fire due ones exactly once in effect."""

from __future__ import annotations

from datetime import datetime

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from libs.common.clock import Clock
from libs.common.events import (
    AppealRoutedV1,
    DeadlineArmedV1,
    DeadlineOverdueV1,
    Envelope,
    EventType,
    TimerKind,
)
from libs.common.logging import bound_context, get_logger
from libs.common.outbox import OutboxRelay, outbox_entry
from libs.common.store import Database, Document
from services.deadlines.schemas import TimerState
from services.deadlines.service import answer_due_at, first_response_due_at

log = get_logger(__name__)

TIMERS = "timers"


class DeadlineFlows:
    def __init__(self, db: Database, relay: OutboxRelay, clock: Clock) -> None:
        self._db = db
        self._relay = relay
        self._clock = clock

    async def ensure_indexes(self) -> None:
        # Due timers are found through this index, never by a scan.
        await self._db[TIMERS].create_index([("state", ASCENDING), ("due_at", ASCENDING)])

    async def arm_for_routed(self, envelope: Envelope, routed: AppealRoutedV1) -> None:
        due = {TimerKind.ANSWER: answer_due_at(routed.routed_at, routed.answer_sla_days, routed.timezone)}
        if routed.first_response_sla_hours:
            due[TimerKind.FIRST_RESPONSE] = first_response_due_at(
                routed.routed_at, routed.first_response_sla_hours
            )
        for kind, due_at in due.items():
            await self._arm(envelope, routed, kind, due_at)

    async def _arm(
        self, envelope: Envelope, routed: AppealRoutedV1, kind: TimerKind, due_at: datetime
    ) -> None:
        now = self._clock()
        armed = DeadlineArmedV1(
            appeal_id=routed.appeal_id,
            number=routed.number,
            timer=kind,
            due_at=due_at,
            organization=routed.organization,
            armed_at=now,
            timezone=routed.timezone,
        )
        timer_id = f"{routed.appeal_id}:{kind}"
        try:
            await self._db[TIMERS].insert_one(
                {
                    "_id": timer_id,
                    "appeal_id": routed.appeal_id,
                    "number": routed.number,
                    "kind": str(kind),
                    "organization": routed.organization.model_dump(),
                    "due_at": due_at,
                    "state": TimerState.ARMED,
                    "armed_at": now,
                    "source_event": envelope.id,
                    "outbox": [self._event(EventType.DEADLINE_ARMED, armed, envelope.correlation_id)],
                }
            )
            log.info("timer armed", timer=str(kind), due_at=due_at.isoformat())
        except DuplicateKeyError:
            log.info("timer already armed", timer=str(kind))
        await self._relay.flush(TIMERS, timer_id)

    async def fire_due(self, limit: int) -> int:
        """Claim and fire due timers. The conditional update makes each fire once across replicas."""
        now = self._clock()
        due = await (
            self._db[TIMERS]
            .find({"state": TimerState.ARMED, "due_at": {"$lte": now}}, {"_id": 1})
            .sort("due_at", ASCENDING)
            .limit(limit)
            .to_list(limit)
        )
        fired = 0
        for candidate in due:
            timer = await self._db[TIMERS].find_one({"_id": candidate["_id"]})
            if timer is None or timer["state"] != TimerState.ARMED:
                continue
            claimed = await self._db[TIMERS].find_one_and_update(
                {"_id": timer["_id"], "state": TimerState.ARMED},
                {
                    "$set": {"state": TimerState.FIRED, "fired_at": now},
                    "$push": {"outbox": self._overdue_event(timer, now)},
                },
            )
            if claimed is None:
                continue  # another replica won the race
            fired += 1
            with bound_context({"appeal_id": timer["appeal_id"]}):
                log.info("deadline passed", timer=timer["kind"])
            await self._relay.flush(TIMERS, timer["_id"])
        return fired

    def _overdue_event(self, timer: Document, now: datetime) -> Document:
        overdue = DeadlineOverdueV1(
            appeal_id=timer["appeal_id"],
            number=timer["number"],
            timer=TimerKind(timer["kind"]),
            due_at=timer["due_at"],
            organization=timer["organization"],
            overdue_at=now,
        )
        return self._event(EventType.DEADLINE_OVERDUE, overdue, correlation_id=timer["source_event"])

    @staticmethod
    def _event(
        event_type: EventType, payload: DeadlineArmedV1 | DeadlineOverdueV1, correlation_id: str
    ) -> Document:
        return outbox_entry(
            event_type, payload, source="deadlines", subject=payload.appeal_id, correlation_id=correlation_id
        )
