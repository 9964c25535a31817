"""The appeal lifecycle as one state machine, plus small pure helpers. No I/O here."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from enum import StrEnum
from typing import Any

from services.intake.schemas import AppealStatus as S


class Action(StrEnum):
    SUBMIT = "submit"
    ROUTE = "route"
    REJECT = "reject"
    TAKE = "take"
    REQUEST_CLARIFICATION = "request_clarification"
    CLARIFY = "clarify"
    ANSWER = "answer"
    RATE_LOW = "rate_low"
    RATE = "rate"
    REASSIGN = "reassign"
    ESCALATE = "escalate"
    CLOSE = "close"


# (from status, action) -> to status. The one place that says which steps are legal.
TRANSITIONS: dict[tuple[S, Action], S] = {
    (S.RECEIVED, Action.ROUTE): S.ROUTED,
    (S.RECEIVED, Action.REJECT): S.REJECTED,
    (S.ROUTED, Action.ROUTE): S.ROUTED,
    (S.ROUTED, Action.TAKE): S.IN_WORK,
    (S.ROUTED, Action.REASSIGN): S.RECEIVED,
    (S.IN_WORK, Action.REQUEST_CLARIFICATION): S.CLARIFICATION_REQUESTED,
    (S.IN_WORK, Action.ANSWER): S.ANSWERED,
    (S.IN_WORK, Action.REASSIGN): S.RECEIVED,
    (S.CLARIFICATION_REQUESTED, Action.CLARIFY): S.IN_WORK,
    (S.ANSWERED, Action.RATE_LOW): S.REREVIEW,
    (S.ANSWERED, Action.RATE): S.CLOSED,
    (S.ANSWERED, Action.ESCALATE): S.ROUTED,
    (S.ANSWERED, Action.CLOSE): S.CLOSED,
    (S.REREVIEW, Action.TAKE): S.IN_WORK,
}


class IllegalTransition(Exception):
    def __init__(self, current: S, action: Action) -> None:
        super().__init__(f"cannot {action} an appeal that is {current}")
        self.current = current
        self.action = action
        self.allowed = allowed_actions(current)


def allowed_actions(status: S) -> list[str]:
    return sorted(str(action) for (source, action) in TRANSITIONS if source is status)


def next_status(current: S, action: Action) -> S:
    try:
        return TRANSITIONS[(current, action)]
    except KeyError:
        raise IllegalTransition(current, action) from None


def appeal_number(year: int, sequence: int) -> str:
    """Human-friendly and unique per deployment: 2026-000123."""
    return f"{year}-{sequence:06d}"


def request_fingerprint(body: dict[str, Any]) -> str:
    """Same Idempotency-Key with a different body must be told apart from a retry."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def timeline_entry(
    at: datetime, role: str, actor_id: str | None, action: Action | str, status: S, comment: str | None = None
) -> dict[str, Any]:
    return {
        "at": at,
        "actor": {"role": role, "id": actor_id},
        "action": str(action),
        "status": str(status),
        "comment": comment,
    }
