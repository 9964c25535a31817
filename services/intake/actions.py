"""Every change of an appeal after submission: people's actions and other services' decisions.

Each change is planned from the current document (domain rules in service.py), then written in
ONE guarded update: the new state, a timeline entry and the events announcing it (outbox). The
`version` guard makes concurrent writers re-plan instead of overwriting each other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from libs.common.auth import Principal, Role
from libs.common.clock import Clock
from libs.common.events import Envelope, EventType
from libs.common.http import Problem
from libs.common.logging import get_logger
from libs.common.outbox import OutboxRelay, outbox_entry
from libs.common.store import Database, Document
from services.intake.flows import APPEALS, SYSTEM
from services.intake.schemas import AppealStatus
from services.intake.security import can_see
from services.intake.service import (
    Action,
    AppealFull,
    Capacity,
    IllegalTransition,
    check_capacity,
    next_status,
    timeline_entry,
)

log = get_logger(__name__)

MAX_ATTEMPTS = 5


@dataclass
class Step:
    """What one action does to an appeal, planned from its current state."""

    action: Action
    changes: Document = field(default_factory=dict)
    events: list[tuple[EventType, BaseModel]] = field(default_factory=list)
    comment: str | None = None
    push: Document = field(default_factory=dict)
    unchanged: bool = False  # nothing to do (e.g. the same public choice again): no write, no entry


Planner = Callable[[Document, datetime], Step]


def fact(appeal: Document, now: datetime) -> dict[str, Any]:
    """The fields every lifecycle event of this appeal carries."""
    return {
        "appeal_id": appeal["_id"],
        "number": appeal["number"],
        "organization": appeal.get("organization"),
        "at": now,
    }


class AppealWriter:
    def __init__(
        self, db: Database, relay: OutboxRelay, clock: Clock, capacity: Capacity | None = None
    ) -> None:
        self._db = db
        self._relay = relay
        self._clock = clock
        self._capacity = capacity or Capacity()

    async def act(
        self,
        principal: Principal,
        appeal_id: str,
        roles: tuple[Role, ...],
        plan: Planner,
        correlation_id: str,
    ) -> Document:
        """A person's action: may they (403), may they see it (404), is it legal now (409), does
        the appeal have room for it (409/413, `service.check_capacity`)."""
        if principal.role not in roles:
            allowed = ", ".join(str(role) for role in roles)
            raise Problem(403, f"this action is for: {allowed}; you are {principal.role}")
        for _ in range(MAX_ATTEMPTS):
            appeal = await self._db[APPEALS].find_one({"_id": appeal_id})
            if appeal is None or not can_see(principal, appeal):
                raise Problem(404, f"appeal {appeal_id} not found")
            try:
                step = plan(appeal, self._clock())
                if step.unchanged:
                    next_status(AppealStatus(appeal["status"]), step.action)  # still legal now?
                    return appeal
                check_capacity(appeal, step.action, step.comment, self._capacity)
                org_id = principal.org_id if principal.role is Role.OPERATOR else None
                written = await self._write(
                    appeal, step, principal.role, principal.sub, correlation_id, org_id=org_id
                )
            except AppealFull as exc:
                raise Problem(exc.status, str(exc), reason=exc.reason) from exc
            except IllegalTransition as exc:
                raise Problem(
                    409,
                    str(exc),
                    title="Action not allowed in the current status",
                    status_now=str(exc.current),
                    allowed_actions=exc.allowed,
                ) from exc
            if written and (current := await self._db[APPEALS].find_one({"_id": appeal_id})) is not None:
                return current
        raise Problem(409, "the appeal was changed by someone else meanwhile; reload it and try again")

    async def apply(self, envelope: Envelope, plan: Planner) -> None:
        """Another service's decision, applied once per event whatever the redeliveries."""
        for _ in range(MAX_ATTEMPTS):
            appeal = await self._db[APPEALS].find_one({"_id": envelope.subject})
            if appeal is None:
                raise LookupError(f"appeal {envelope.subject} is not stored here")
            if envelope.id in appeal.get("applied", []):
                return
            try:
                step = plan(appeal, self._clock())
                written = await self._write(
                    appeal, step, SYSTEM, envelope.source, envelope.correlation_id, envelope.id
                )
            except IllegalTransition as exc:
                log.warning("event ignored by the lifecycle", event_type=envelope.type, reason=str(exc))
                await self._db[APPEALS].update_one(
                    {"_id": envelope.subject}, {"$addToSet": {"applied": envelope.id}}
                )
                return
            if written:
                return
        raise RuntimeError(f"appeal {envelope.subject} kept changing; will retry")

    async def record(self, envelope: Envelope, changes: Document, note: str | None = None) -> None:
        """A fact that is not a transition (a deadline, the overdue flag), recorded once per event."""
        now = self._clock()
        push: Document = {"applied": envelope.id}
        if note:  # the timeline entry names the current status: read it first
            appeal = await self._db[APPEALS].find_one({"_id": envelope.subject}, {"status": 1})
            if appeal is None:
                raise LookupError(f"appeal {envelope.subject} is not stored here")
            push["timeline"] = timeline_entry(
                now, SYSTEM, envelope.source, note, AppealStatus(appeal["status"])
            )
        result = await self._db[APPEALS].update_one(
            {"_id": envelope.subject, "applied": {"$ne": envelope.id}},
            {"$set": {**changes, "updated_at": now}, "$inc": {"version": 1}, "$push": push},
        )
        # Nothing matched: applied already, or not stored here (only that one is an error).
        if not result.matched_count and not await self._db[APPEALS].count_documents(
            {"_id": envelope.subject}, limit=1
        ):
            raise LookupError(f"appeal {envelope.subject} is not stored here")

    async def _write(
        self,
        appeal: Document,
        step: Step,
        role: str,
        actor_id: str | None,
        correlation_id: str,
        event_id: str | None = None,
        org_id: str | None = None,
    ) -> bool:
        """The guarded update, then its events; False when someone else changed the appeal first."""
        now = self._clock()
        status = next_status(AppealStatus(appeal["status"]), step.action)
        events = [
            outbox_entry(kind, payload, source="intake", subject=appeal["_id"], correlation_id=correlation_id)
            for kind, payload in step.events
        ]
        push: Document = {
            "timeline": timeline_entry(now, role, actor_id, step.action, status, step.comment, org_id),
            "outbox": {"$each": events},
            **step.push,
        }
        guard: Document = {"_id": appeal["_id"], "version": appeal.get("version", 0)}
        if event_id:
            push["applied"] = event_id
            guard["applied"] = {"$ne": event_id}
        result = await self._db[APPEALS].update_one(
            guard,
            {
                "$set": {**step.changes, "status": str(status), "updated_at": now},
                "$inc": {"version": 1},
                "$push": push,
            },
        )
        if not result.modified_count:
            return False
        log.info("appeal changed", appeal_id=appeal["_id"], action=str(step.action), status=str(status))
        if events:
            try:
                await self._relay.publish_written(APPEALS, appeal["_id"], events)
            except Exception as exc:  # stored is done: the outbox sweep publishes it later
                log.warning("publish deferred to the outbox sweep", error=type(exc).__name__)
        return True  # the caller reads the appeal back only if it answers with it (a person's action)
