"""Routing's event handlers: thin, each hands the event to a flow."""

from __future__ import annotations

from libs.common.events import (
    AppealAnsweredV1,
    AppealSubmittedV1,
    Envelope,
    EscalationRequestedV1,
    EventType,
    ReassignRequestedV1,
)
from libs.common.messaging import Handler
from services.routing.flows import RoutingFlows


def handlers(flows: RoutingFlows) -> dict[str, Handler]:
    async def on_submitted(envelope: Envelope, payload: AppealSubmittedV1) -> None:
        await flows.route_submitted(envelope, payload)

    async def on_reassign_requested(envelope: Envelope, payload: ReassignRequestedV1) -> None:
        await flows.reassign(envelope, payload)

    async def on_escalation_requested(envelope: Envelope, payload: EscalationRequestedV1) -> None:
        await flows.escalate(envelope, payload)

    async def on_answered(envelope: Envelope, payload: AppealAnsweredV1) -> None:
        await flows.answered(payload.appeal_id, payload.at)

    return {
        EventType.APPEAL_SUBMITTED: on_submitted,
        EventType.APPEAL_REASSIGN_REQUESTED: on_reassign_requested,
        EventType.APPEAL_ESCALATION_REQUESTED: on_escalation_requested,
        EventType.APPEAL_ANSWERED: on_answered,
    }
