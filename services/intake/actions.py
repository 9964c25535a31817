"""Every change of an appeal after submission: people's actions and other services' decisions.

Each change is planned from the current document (`steps`: pure planners over `records.Appeal`,
domain rules in service.py), then written in ONE guarded update, the platform's one write
pattern (`libs/common/aggregate.py`): the new state, a timeline entry and the events announcing
it (outbox). The `version` guard makes concurrent writers re-plan instead of overwriting each
other; a failed publish is left to the outbox sweep.
"""

from __future__ import annotations

from datetime import datetime

from libs.common.aggregate import MAX_ATTEMPTS, Aggregate, Change
from libs.common.auth import Principal, Role
from libs.common.clock import Clock
from libs.common.events import Envelope
from libs.common.http import Problem
from libs.common.logging import get_logger
from libs.common.outbox import outbox_entry
from libs.common.store import Database, Document
from services.intake.records import APPEALS, SYSTEM, Appeal
from services.intake.schemas import AppealStatus
from services.intake.security import can_see
from services.intake.service import (
    AppealFull,
    Capacity,
    IllegalTransition,
    actions_for,
    check_capacity,
    next_status,
    timeline_entry,
)
from services.intake.steps import Planner, Step

log = get_logger(__name__)


def _changed(appeal_id: str, change: Change) -> None:
    log.info(
        "appeal changed",
        appeal_id=appeal_id,
        action=change.push["timeline"]["action"],
        status=change.set["status"],
    )


class AppealWriter:
    """Every change of a stored appeal: people's actions (`act`), other services' decisions
    (`apply`) and recorded facts (`record`), each one guarded write (the module's docstring)."""

    def __init__(
        self, db: Database, appeals: Aggregate, clock: Clock, capacity: Capacity | None = None
    ) -> None:
        """`appeals`: the same aggregate the submit inserts through (`AppealFlows`), so the first
        event of an appeal this process just accepted is decided on its copy (`Aggregate`)."""
        self._db = db
        self._appeals = appeals
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
                record = Appeal.of(appeal)
                step = plan(record, self._clock())
                if step.unchanged:
                    next_status(record.status, step.action)  # still legal now?
                    return appeal
                check_capacity(record, step.action, step.comment, self._capacity)
                org_id = principal.org_id if principal.role is Role.OPERATOR else None
                change = self._change(record, step, principal.role, principal.sub, correlation_id, org_id)
                written = await self._appeals.write(appeal_id, change, read=appeal)
                if written:
                    _changed(appeal_id, change)
            except AppealFull as exc:
                raise Problem(exc.status, str(exc), reason=exc.reason) from exc
            except IllegalTransition as exc:
                raise Problem(
                    409,
                    str(exc),
                    title="Action not allowed in the current status",
                    status_now=str(exc.current),
                    # what this caller may do now, as the appeal's view says (not every role's)
                    allowed_actions=actions_for(str(principal.role), Appeal.of(appeal)),
                ) from exc
            if written and (current := await self._db[APPEALS].find_one({"_id": appeal_id})) is not None:
                return current
        raise Problem(409, "the appeal was changed by someone else meanwhile; reload it and try again")

    async def apply(self, envelope: Envelope, plan: Planner) -> None:
        """Another service's decision, applied once per event whatever the redeliveries
        (`Aggregate.apply`). A step the lifecycle does not allow now is recorded as applied and
        logged, never half-applied. Raises `LookupError` (not stored here), `ConcurrentChange`."""

        def decide(appeal: Document | None) -> Change:
            assert appeal is not None
            record = Appeal.of(appeal)
            try:
                step = plan(record, self._clock())
                return self._change(record, step, SYSTEM, envelope.source, envelope.correlation_id)
            except IllegalTransition as exc:
                log.warning("event ignored by the lifecycle", event_type=envelope.type, reason=str(exc))
                return Change()

        change = await self._appeals.apply(envelope.id, envelope.subject, decide)
        if change is not None and not change.empty:
            _changed(envelope.subject, change)

    async def record(self, envelope: Envelope, changes: Document, note: str | None = None) -> None:
        """A fact that is not a transition (a deadline, the overdue flag), recorded once per event.

        Raises LookupError when the appeal is not stored here."""
        now = self._clock()
        push: Document = {}
        if note:  # the timeline entry names the current status: read it first
            appeal = await self._db[APPEALS].find_one({"_id": envelope.subject}, {"status": 1})
            if appeal is None:
                raise LookupError(f"appeal {envelope.subject} is not stored here")
            push["timeline"] = timeline_entry(
                now, SYSTEM, envelope.source, note, AppealStatus(appeal["status"])
            )
        change = Change(set={**changes, "updated_at": now}, push=push)
        # Nothing matched: applied already, or not stored here (only that one is an error).
        if not await self._appeals.write(envelope.subject, change, read=None, event_id=envelope.id) and not (
            await self._db[APPEALS].count_documents({"_id": envelope.subject}, limit=1)
        ):
            raise LookupError(f"appeal {envelope.subject} is not stored here")

    def _change(
        self,
        appeal: Appeal,
        step: Step,
        role: str,
        actor_id: str | None,
        correlation_id: str,
        org_id: str | None = None,
    ) -> Change:
        """A step as one guarded write: its fields, the new status, its timeline entry, its events.
        Raises `IllegalTransition` when the lifecycle does not allow the step now."""
        now: datetime = self._clock()
        status = next_status(appeal.status, step.action)
        events = [
            outbox_entry(kind, payload, source="intake", subject=appeal.id, correlation_id=correlation_id)
            for kind, payload in step.events
        ]
        entry = timeline_entry(now, role, actor_id, step.action, status, step.comment, org_id)
        return Change(
            set={**step.changes, "status": str(status), "updated_at": now},
            push={"timeline": entry, **step.push},
            events=events,
        )
