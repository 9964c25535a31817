"""Events polls consumes: its own `poll.closed`, to unlink ballots from voters once counted."""

from __future__ import annotations

from libs.common.events import Envelope, EventType
from libs.common.messaging import Handler
from libs.common.poll_events import PollClosedV1
from services.polls.flows import PollFlows


def handlers(flows: PollFlows) -> dict[str, Handler]:
    async def on_closed(envelope: Envelope, closed: PollClosedV1) -> None:
        # Out of the closing write on purpose: a large poll's ballots are unlinked with the
        # broker's retries, and the closing itself stays one small update.
        await flows.unlink_ballots(envelope, closed)

    return {EventType.POLL_CLOSED: on_closed}
