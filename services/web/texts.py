"""Names of statuses, kinds and actions (English message ids; the catalogues translate them), the
deadline colour of a queue row, and the helpers templates use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from libs.common.clock import ends_a_day
from services.web.i18n import N_
from services.web.settings import WebSettings

STATUS = {
    "received": N_("Received"),
    "rejected": N_("Rejected"),
    "routed": N_("Sent to the organisation"),
    "in_work": N_("In work"),
    "clarification_requested": N_("Clarification requested"),
    "answered": N_("Answered"),
    "rereview": N_("Back for re-review"),
    "closed": N_("Closed"),
}
KINDS = {
    "complaint": N_("Complaint"),
    "proposal": N_("Proposal"),
    "question": N_("Question"),
    "gratitude": N_("Gratitude"),
}
ACTIONS = {
    "submit": N_("Submitted"),
    "submitted": N_("Submitted"),
    "route": N_("Sent to the organisation"),
    "routed": N_("Sent to the organisation"),
    "reject": N_("Rejected"),
    "rejected": N_("Rejected"),
    "take": N_("Taken into work"),
    "taken": N_("Taken into work"),
    "ask": N_("Clarification requested"),
    "clarification_requested": N_("Clarification requested"),
    "reply": N_("Clarification given"),
    "clarified": N_("Clarification given"),
    "comment": N_("Comment"),
    "clarification_request": N_("Clarification requested"),
    "clarify": N_("Clarification given"),
    "rating": N_("Rated"),
    "rating_low": N_("Rated low: back for re-review"),
    "escalation_request": N_("Escalation requested"),
    "answer": N_("Answered"),
    "answered": N_("Answered"),
    "rate": N_("Rated"),
    "rated": N_("Rated"),
    "rereview": N_("Back for re-review"),
    "escalate": N_("Escalation requested"),
    "escalated": N_("Escalated"),
    "reassign": N_("Handed back: not ours"),
    "extend": N_("More time requested"),
    "extended": N_("Deadline extended"),
    "close": N_("Closed"),
    "closed": N_("Closed"),
    "overdue": N_("Deadline passed"),
    "make_public": N_("Made public by the author"),
    "make_private": N_("Made private by the author"),
}
POLL_KINDS = {"poll": N_("Poll"), "hearing": N_("Public hearing")}
QUESTION_KINDS = {
    "single": N_("One option"),
    "multiple": N_("Several options"),
    "opinion": N_("An opinion (free text)"),
}
POLL_STATUS = {
    "draft": N_("Draft"),
    "published": N_("Published"),
    "closed": N_("Closed"),
    "cancelled": N_("Cancelled"),
}
DUE_SOON = timedelta(days=3)
DISPLAY_ZONE = ZoneInfo("Europe/Moscow")


def deadline_class(due_at: str | None, overdue: bool, now: datetime | None = None) -> str:
    """`overdue` (red), `due-soon` (amber, within 3 days) or `on-time` (green); `none` without a
    deadline yet."""
    if overdue:
        return "overdue"
    if not due_at:
        return "none"
    due = parse_time(due_at)
    now = now or datetime.now(UTC)
    if due < now:
        return "overdue"
    return "due-soon" if due - now <= DUE_SOON else "on-time"


def parse_time(value: str | datetime) -> datetime:
    if isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def local_time(value: Any, with_time: bool = True) -> str:
    """ "30.11.2026 12:40" in the region's time zone (Moscow for the demo region)."""
    if not value:
        return ""
    moment = parse_time(value).astimezone(DISPLAY_ZONE)
    return moment.strftime("%d.%m.%Y %H:%M" if with_time else "%d.%m.%Y")


def local_due(value: Any) -> str:
    """A deadline in the region's time zone: the date alone when it ends the day (calendar-day
    deadlines end at 23:59:59), else the date and the time (the demo's minute-long deadlines)."""
    if not value:
        return ""
    return local_time(value, with_time=not ends_a_day(parse_time(value).astimezone(DISPLAY_ZONE)))


def template_globals(settings: WebSettings) -> dict[str, Any]:
    return {
        "STATUS": STATUS,
        "KINDS": KINDS,
        "ACTIONS": ACTIONS,
        "POLL_KINDS": POLL_KINDS,
        "POLL_STATUS": POLL_STATUS,
        "QUESTION_KINDS": QUESTION_KINDS,
        "deadline_class": deadline_class,
        "local_time": local_time,
        "local_due": local_due,
        "settings_public": {
            "tile_url": settings.tile_url or "",
            "tile_attribution": settings.tile_attribution,
            "public_url": settings.public_url.rstrip("/"),
            "dev": settings.is_dev,
            "oidc": settings.oidc_enabled,
        },
    }
