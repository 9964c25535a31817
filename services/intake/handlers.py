"""How intake's record follows the decisions of routing and deadlines."""

from __future__ import annotations

from libs.common.events import (
    AppealRejectedV1,
    AppealRoutedV1,
    DeadlineArmedV1,
    DeadlineOverdueV1,
    Envelope,
    EventType,
    RatingWindowEndedV1,
)
from libs.common.messaging import Handler, only_when
from libs.common.topology import DUE_ANNOUNCED, HintFilter
from services.intake import steps
from services.intake.actions import AppealWriter

# The first routing's due date is recorded from appeal.routed: its deadline.armed tells nothing new.
NEW_DUE_DATE = HintFilter(DUE_ANNOUNCED, skip=1)


def handlers(writer: AppealWriter) -> dict[str, Handler]:
    async def on_routed(envelope: Envelope, payload: AppealRoutedV1) -> None:
        await writer.apply(envelope, steps.routed(payload))

    async def on_rejected(envelope: Envelope, payload: AppealRejectedV1) -> None:
        await writer.apply(envelope, steps.rejected(payload))

    async def on_rating_window_ended(envelope: Envelope, payload: RatingWindowEndedV1) -> None:
        await writer.apply(envelope, steps.rating_window_ended())

    async def on_armed(envelope: Envelope, payload: DeadlineArmedV1) -> None:
        await writer.record(envelope, steps.deadline_armed(payload))

    async def on_overdue(envelope: Envelope, payload: DeadlineOverdueV1) -> None:
        await writer.record(envelope, steps.deadline_overdue(payload), note=f"overdue:{payload.timer}")

    return {
        EventType.APPEAL_ROUTED: on_routed,
        EventType.APPEAL_REJECTED: on_rejected,
        EventType.RATING_WINDOW_ENDED: on_rating_window_ended,
        EventType.DEADLINE_ARMED: only_when(NEW_DUE_DATE, on_armed),
        EventType.DEADLINE_OVERDUE: on_overdue,
    }
