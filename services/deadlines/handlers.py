from __future__ import annotations

from libs.common.events import AppealRoutedV1, Envelope, EventType
from libs.common.messaging import Handler
from services.deadlines.flows import DeadlineFlows


def handlers(flows: DeadlineFlows) -> dict[str, Handler]:
    async def on_routed(envelope: Envelope, payload: AppealRoutedV1) -> None:
        await flows.arm_for_routed(envelope, payload)

    return {EventType.APPEAL_ROUTED: on_routed}
