from __future__ import annotations

from libs.common.events import AppealSubmittedV1, Envelope, EventType
from libs.common.messaging import Handler
from services.media.flows import MediaFlows


def handlers(flows: MediaFlows) -> dict[str, Handler]:
    async def on_appeal_submitted(envelope: Envelope, payload: AppealSubmittedV1) -> None:
        await flows.attach_to_appeal(payload)

    return {EventType.APPEAL_SUBMITTED: on_appeal_submitted}
