from __future__ import annotations

from libs.common.events import AppealRejectedV1, AppealSubmittedV1, DeadlineArmedV1, Envelope, EventType
from libs.common.messaging import Handler
from services.notify.flows import NotifyFlows


def handlers(flows: NotifyFlows) -> dict[str, Handler]:
    async def on_submitted(envelope: Envelope, payload: AppealSubmittedV1) -> None:
        await flows.remember_recipient(envelope, payload)

    async def on_deadline_armed(envelope: Envelope, payload: DeadlineArmedV1) -> None:
        await flows.notify_registered(envelope, payload)

    async def on_rejected(envelope: Envelope, payload: AppealRejectedV1) -> None:
        await flows.notify_rejected(envelope, payload)

    return {
        EventType.APPEAL_SUBMITTED: on_submitted,
        EventType.DEADLINE_ARMED: on_deadline_armed,
        EventType.APPEAL_REJECTED: on_rejected,
    }
