"""Which events notify handles; each handler only hands the event to its flow."""

from __future__ import annotations

from libs.common.events import EventType
from libs.common.messaging import Handler
from services.notify.flows import NotifyFlows
from services.notify.polls import PollNotices


def handlers(flows: NotifyFlows, polls: PollNotices | None = None) -> dict[str, Handler]:
    # deadline.rating_window_ended needs no message of its own: appeal.closed follows it.
    table: dict[str, Handler] = {
        EventType.APPEAL_SUBMITTED: flows.remember_submitted,
        EventType.DEADLINE_ARMED: flows.on_armed,
        EventType.APPEAL_REJECTED: flows.on_rejected,
        EventType.APPEAL_ROUTED: flows.on_routed,
        EventType.APPEAL_TAKEN: flows.on_taken,
        EventType.APPEAL_CLARIFICATION_REQUESTED: flows.on_clarification_requested,
        EventType.APPEAL_CLARIFIED: flows.on_clarified,
        EventType.APPEAL_ANSWERED: flows.on_answered,
        EventType.INCIDENT_RESPONDED: flows.on_responded,
        EventType.APPEAL_REREVIEW_REQUESTED: flows.on_rereview,
        EventType.APPEAL_CLOSED: flows.on_closed,
        EventType.DEADLINE_WARNING: flows.on_warning,
        EventType.DEADLINE_OVERDUE: flows.on_overdue,
    }
    if polls is not None:
        table |= {
            EventType.POLL_PUBLISHED: polls.on_published,
            EventType.POLL_CANCELLED: polls.on_cancelled,
            EventType.POLL_CLOSED: polls.on_closed,
        }
    return table
