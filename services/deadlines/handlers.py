"""Lifecycle events → one step of the appeal's timers (service.py), stored by flows.py."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from libs.common.events import (
    AppealAnsweredV1,
    AppealClarifiedV1,
    AppealClosedV1,
    AppealRatedV1,
    AppealRoutedV1,
    AppealTakenV1,
    ClarificationRequestedV1,
    DeadlineExtensionRequestedV1,
    Envelope,
    EventType,
    IncidentRespondedV1,
    RereviewRequestedV1,
)
from libs.common.messaging import Handler
from services.deadlines import service
from services.deadlines.flows import DeadlineFlows, Step
from services.deadlines.schemas import AppealClock
from services.deadlines.service import Outcome, Policy


def _existing(step: Callable[[AppealClock, datetime], Outcome]) -> Step:
    def run(clock: AppealClock | None, now: datetime) -> Outcome:
        assert clock is not None  # flows.apply refuses events of unknown appeals (retried later)
        return step(clock, now)

    return run


def handlers(flows: DeadlineFlows, policy: Policy) -> dict[str, Handler]:
    async def on_routed(envelope: Envelope, event: AppealRoutedV1) -> None:
        def step(clock: AppealClock | None, now: datetime) -> Outcome:
            return service.routed(clock, event, envelope.correlation_id, now, policy)

        await flows.apply(envelope, event.appeal_id, step, creates=True)

    async def on_taken(envelope: Envelope, event: AppealTakenV1) -> None:
        await flows.apply(envelope, event.appeal_id, _existing(lambda c, now: service.taken(c, event.at)))

    async def on_responded(envelope: Envelope, event: IncidentRespondedV1) -> None:
        await flows.apply(envelope, event.appeal_id, _existing(lambda c, now: service.responded(c, event.at)))

    async def on_clarification_requested(envelope: Envelope, event: ClarificationRequestedV1) -> None:
        step = _existing(lambda c, now: service.clarification_requested(c, event.at))
        await flows.apply(envelope, event.appeal_id, step)

    async def on_clarified(envelope: Envelope, event: AppealClarifiedV1) -> None:
        step = _existing(lambda c, now: service.clarified(c, event.at, now, policy))
        await flows.apply(envelope, event.appeal_id, step)

    async def on_answered(envelope: Envelope, event: AppealAnsweredV1) -> None:
        step = _existing(lambda c, now: service.answered(c, event.at, event.round, now, policy))
        await flows.apply(envelope, event.appeal_id, step)

    async def on_rated(envelope: Envelope, event: AppealRatedV1) -> None:
        await flows.apply(envelope, event.appeal_id, _existing(lambda c, now: service.rated(c, event.score)))

    async def on_rereview_requested(envelope: Envelope, event: RereviewRequestedV1) -> None:
        step = _existing(lambda c, now: service.rereview_requested(c, event.at, event.round, now, policy))
        await flows.apply(envelope, event.appeal_id, step)

    async def on_closed(envelope: Envelope, event: AppealClosedV1) -> None:
        await flows.apply(envelope, event.appeal_id, _existing(lambda c, now: service.closed(c, event.at)))

    async def on_extension_requested(envelope: Envelope, event: DeadlineExtensionRequestedV1) -> None:
        step = _existing(lambda c, now: service.extension_requested(c, event, now, policy))
        await flows.apply(envelope, event.appeal_id, step)

    return {
        EventType.APPEAL_ROUTED: on_routed,
        EventType.APPEAL_TAKEN: on_taken,
        EventType.INCIDENT_RESPONDED: on_responded,
        EventType.APPEAL_CLARIFICATION_REQUESTED: on_clarification_requested,
        EventType.APPEAL_CLARIFIED: on_clarified,
        EventType.APPEAL_ANSWERED: on_answered,
        EventType.APPEAL_RATED: on_rated,
        EventType.APPEAL_REREVIEW_REQUESTED: on_rereview_requested,
        EventType.APPEAL_CLOSED: on_closed,
        EventType.DEADLINE_EXTENSION_REQUESTED: on_extension_requested,
    }
