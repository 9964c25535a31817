from __future__ import annotations

from libs.common.events import AppealSubmittedV1, Envelope, EventType
from libs.common.messaging import Handler
from services.routing.flows import RoutingFlows


def handlers(flows: RoutingFlows) -> dict[str, Handler]:
    async def on_submitted(envelope: Envelope, payload: AppealSubmittedV1) -> None:
        await flows.route_submitted(envelope, payload)

    return {EventType.APPEAL_SUBMITTED: on_submitted}
