"""How intake's record follows the decisions of routing and deadlines."""

from __future__ import annotations

from libs.common.events import (
    AppealRejectedV1,
    AppealRoutedV1,
    DeadlineArmedV1,
    DeadlineOverdueV1,
    Envelope,
    EventType,
    TimerKind,
)
from libs.common.messaging import Handler
from services.intake.flows import AppealFlows
from services.intake.service import Action

DUE_FIELD = {TimerKind.ANSWER: "due_at", TimerKind.FIRST_RESPONSE: "first_response_due_at"}


def handlers(flows: AppealFlows) -> dict[str, Handler]:
    async def on_routed(envelope: Envelope, payload: AppealRoutedV1) -> None:
        changes = {"organization": payload.organization.model_dump(), "routing_rule": payload.rule}
        await flows.apply_transition(envelope, Action.ROUTE, changes, comment=payload.organization.name)

    async def on_rejected(envelope: Envelope, payload: AppealRejectedV1) -> None:
        changes = {"rejection": {"code": payload.reason_code, "reason": payload.reason}}
        await flows.apply_transition(envelope, Action.REJECT, changes, comment=payload.reason)

    async def on_armed(envelope: Envelope, payload: DeadlineArmedV1) -> None:
        await flows.apply_fields(envelope, {DUE_FIELD[payload.timer]: payload.due_at})

    async def on_overdue(envelope: Envelope, payload: DeadlineOverdueV1) -> None:
        if payload.timer is TimerKind.ANSWER:
            changes = {"overdue": True, "overdue_at": payload.overdue_at}
        else:
            changes = {"first_response_overdue": True}
        await flows.apply_fields(envelope, changes, note=f"overdue:{payload.timer}")

    return {
        EventType.APPEAL_ROUTED: on_routed,
        EventType.APPEAL_REJECTED: on_rejected,
        EventType.DEADLINE_ARMED: on_armed,
        EventType.DEADLINE_OVERDUE: on_overdue,
    }
