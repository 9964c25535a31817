"""The appeal lifecycle as one state machine, plus small pure helpers. No I/O here."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from services.intake.records import Appeal
from services.intake.schemas import AppealStatus as S

LOW_RATING = 2  # a score of 1 or 2 sends the answer back for re-review


class Action(StrEnum):
    SUBMIT = "submit"
    # decided by routing
    ROUTE = "route"
    TRIAGE = "triage"  # nobody would take it: the regional control centre's queue
    REJECT = "reject"
    ESCALATE = "escalate"
    # operators
    TAKE = "take"
    REQUEST_CLARIFICATION = "clarification_request"
    ANSWER = "answer"
    REASSIGN = "reassign"
    EXTEND = "extend"
    RESPOND = "first_response"  # a social incident's first public reply (not the answer)
    # citizens
    CLARIFY = "clarify"
    COMMENT = "comment"
    RATE = "rating"
    RATE_LOW = "rating_low"
    REQUEST_ESCALATION = "escalation_request"
    # the author changes the public choice made at submission (docs/api.md#public-appeals)
    MAKE_PUBLIC = "make_public"
    MAKE_PRIVATE = "make_private"
    # deadlines
    CLOSE = "close"


OPEN = (S.ROUTED, S.IN_WORK, S.CLARIFICATION_REQUESTED, S.REREVIEW)

# (from status, action) -> to status. The one place that says which steps are legal.
TRANSITIONS: dict[tuple[S, Action], S] = {
    (S.RECEIVED, Action.ROUTE): S.ROUTED,
    (S.RECEIVED, Action.REJECT): S.REJECTED,
    (S.RECEIVED, Action.TRIAGE): S.NEEDS_TRIAGE,
    (S.NEEDS_TRIAGE, Action.ROUTE): S.ROUTED,  # the control centre named who answers
    (S.ROUTED, Action.TAKE): S.IN_WORK,
    (S.REREVIEW, Action.TAKE): S.IN_WORK,
    (S.ROUTED, Action.REASSIGN): S.RECEIVED,
    (S.IN_WORK, Action.REASSIGN): S.RECEIVED,
    (S.IN_WORK, Action.REQUEST_CLARIFICATION): S.CLARIFICATION_REQUESTED,
    (S.CLARIFICATION_REQUESTED, Action.CLARIFY): S.IN_WORK,
    (S.IN_WORK, Action.ANSWER): S.ANSWERED,
    # A rating of 3-5 keeps the appeal answered until the rating window ends: the citizen may
    # still escalate meanwhile. A low rating sends it back to the same organisation.
    (S.ANSWERED, Action.RATE): S.ANSWERED,
    (S.ANSWERED, Action.RATE_LOW): S.REREVIEW,
    (S.ANSWERED, Action.CLOSE): S.CLOSED,
    # Escalation moves the appeal to the parent organisation, from any open or answered state.
    **{(status, Action.ESCALATE): S.ROUTED for status in (*OPEN, S.ANSWERED)},
    # Facts that do not change the status but must be legal in it.
    **{
        (status, Action.EXTEND): status
        for status in (S.ROUTED, S.IN_WORK, S.CLARIFICATION_REQUESTED, S.REREVIEW)
    },
    **{(status, Action.RESPOND): status for status in OPEN},
    **{(status, Action.COMMENT): status for status in (S.RECEIVED, S.NEEDS_TRIAGE, *OPEN, S.ANSWERED)},
    **{(status, Action.REQUEST_ESCALATION): status for status in (*OPEN, S.ANSWERED)},
    # The author may publish or withdraw their appeal in any status but rejected (never listed),
    # a closed one too: the only step a closed appeal still allows.
    **{
        (status, action): status
        for status in S
        if status is not S.REJECTED
        for action in (Action.MAKE_PUBLIC, Action.MAKE_PRIVATE)
    },
}


class IllegalTransition(Exception):
    def __init__(self, current: S, action: Action, why: str | None = None) -> None:
        super().__init__(why or f"cannot {action} an appeal that is {current}")
        self.current = current
        self.action = action
        self.allowed = allowed_actions(current)


def allowed_actions(status: S) -> list[str]:
    """The actions `TRANSITIONS` allows from `status`, sorted (shown with a 409)."""
    return sorted({str(action) for (source, action) in TRANSITIONS if source is status})


ROLE_ACTIONS = {
    "citizen": {
        Action.COMMENT,
        Action.CLARIFY,
        Action.RATE,
        Action.REQUEST_ESCALATION,
        Action.MAKE_PUBLIC,
        Action.MAKE_PRIVATE,
    },
    "operator": {
        Action.TAKE,
        Action.REQUEST_CLARIFICATION,
        Action.ANSWER,
        Action.REASSIGN,
        Action.EXTEND,
        Action.RESPOND,
        Action.COMMENT,
    },
}


def actions_for(role: str, appeal: Appeal) -> list[str]:
    """What this caller could do now with `appeal`: a hint for user interfaces (the rules still
    decide). The lifecycle's legal steps for the caller's role, less those the appeal's own rules
    refuse now (a rated answer, an escalation under way, a first reply given: `RULES`)."""
    possible = ROLE_ACTIONS.get(role, set())
    legal = {action for (source, action) in TRANSITIONS if source is appeal.status}
    if Action.RATE_LOW in legal:
        legal.add(Action.RATE)
    return sorted(str(action) for action in possible & legal if _allowed_now(action, appeal))


def _allowed_now(action: Action, appeal: Appeal) -> bool:
    check = RULES.get(action)
    if check is None:
        return True
    try:
        check(appeal)
    except IllegalTransition:
        return False
    return True


def check_first_response(appeal: Appeal) -> None:
    """Only a social incident gets a first public reply, and only one (the connector posts it).
    Raises `IllegalTransition`."""
    current = appeal.status
    if appeal.channel != "social":
        raise IllegalTransition(current, Action.RESPOND, "a first public reply is for social-media incidents")
    if appeal.first_response:
        raise IllegalTransition(current, Action.RESPOND, "the first public reply was already given")


def next_status(current: S, action: Action) -> S:
    """The status after `action`, from the one transition table `TRANSITIONS`. Raises
    IllegalTransition when the lifecycle does not allow the action in `current`."""
    try:
        return TRANSITIONS[(current, action)]
    except KeyError:
        raise IllegalTransition(current, action) from None


def rating_action(score: int) -> Action:
    """A score of 1..5 as an action: `LOW_RATING` (2) or less sends the answer back for re-review
    (docs/api.md), higher accepts it."""
    return Action.RATE_LOW if score <= LOW_RATING else Action.RATE


def check_rating(appeal: Appeal) -> None:
    """One rating per answer: after a re-review the new answer can be rated again. Raises
    `IllegalTransition`."""
    current = appeal.status
    latest_answer = len(appeal.answers) - 1
    if any(rating.answer_index == latest_answer for rating in appeal.ratings):
        raise IllegalTransition(current, Action.RATE, "this answer has already been rated")


def check_escalation(appeal: Appeal) -> None:
    """The citizen may escalate after an answer, or when the organisation is overdue. Raises
    `IllegalTransition`."""
    current = appeal.status
    next_status(current, Action.REQUEST_ESCALATION)
    if appeal.escalation_pending:
        raise IllegalTransition(current, Action.REQUEST_ESCALATION, "an escalation is already under way")
    if current is not S.ANSWERED and not appeal.overdue:
        raise IllegalTransition(
            current,
            Action.REQUEST_ESCALATION,
            "escalation is possible after an answer or once the deadline has passed",
        )


TRACKING_PARAMS = ("utm_", "fbclid", "gclid", "from", "ref")


def canonical_post_url(url: str) -> str:
    """One post, one key: ignore case of the host, fragments, trailing slashes and tracking tags."""
    parts = urlsplit(url.strip())
    query = [(k, v) for k, v in parse_qsl(parts.query) if not k.lower().startswith(TRACKING_PARAMS)]
    path = parts.path.rstrip("/") or "/"
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, urlencode(sorted(query)), ""))


def summarize(text: str, limit: int = 200) -> str:
    """A summary from free text: its first line, cut on a word boundary."""
    first = " ".join(text.strip().splitlines()[0].split()) if text.strip() else ""
    if len(first) <= limit:
        return first
    return first[: limit - 1].rsplit(" ", 1)[0] + "…"


def appeal_number(year: int, sequence: int) -> str:
    """Human-friendly and unique per deployment: 2026-000123."""
    return f"{year}-{sequence:06d}"


def request_fingerprint(body: dict[str, Any]) -> str:
    """Same Idempotency-Key with a different body must be told apart from a retry."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class Capacity:
    """What one appeal may hold from people's writes (IntakeSettings `max_*`); MongoDB refuses a
    document over 16 MB, and a huge appeal slows every read of it."""

    max_comments: int = 200
    max_comment_chars: int = 300_000
    max_timeline_entries: int = 1000


class AppealFull(Exception):
    """A person's write that would exceed the appeal's capacity: `status` is 409 or 413."""

    def __init__(self, status: int, detail: str, reason: str) -> None:
        super().__init__(detail)
        self.status = status
        self.reason = reason


# The rules beyond the lifecycle table that `steps` applies to an action, so that the actions
# offered (`actions_for`) are the ones that would be accepted.
RULES: dict[Action, Callable[[Appeal], None]] = {
    Action.RESPOND: check_first_response,
    Action.RATE: check_rating,
    Action.RATE_LOW: check_rating,
    Action.REQUEST_ESCALATION: check_escalation,
}


def check_capacity(appeal: Appeal, action: Action, text: str | None, capacity: Capacity) -> None:
    """Raise `AppealFull` if this person's action would overfill the appeal.

    Plain comments are bounded in number (409 `too_many_comments`) and in total text (413
    `comments_too_large`); every person's action by the timeline's length (409 `timeline_full`).
    Steps the lifecycle needs (a clarification reply, an answer) are bounded by the lifecycle
    itself and never count as comments; other services' decisions are always recorded.
    """
    timeline = appeal.timeline
    if len(timeline) >= capacity.max_timeline_entries:
        raise AppealFull(
            409, f"this appeal's history is full ({capacity.max_timeline_entries} entries)", "timeline_full"
        )
    if action is not Action.COMMENT:
        return
    comments = [entry for entry in timeline if entry.action == Action.COMMENT]
    if len(comments) >= capacity.max_comments:
        raise AppealFull(
            409,
            f"this appeal has the most comments it can hold ({capacity.max_comments})",
            "too_many_comments",
        )
    used = sum(len(entry.comment or "") for entry in comments)
    if used + len(text or "") > capacity.max_comment_chars:
        raise AppealFull(
            413,
            f"this appeal's comments hold at most {capacity.max_comment_chars} characters in all",
            "comments_too_large",
        )


def idempotency_scope(kind: str, *parts: str) -> str:
    """The stored key of one idempotent request: a JSON array, so no part can run into the next.

    `("citizen", "a:b", "c")` and `("citizen", "a", "b:c")` stay two scopes (with "sub:key"
    concatenation they were one), and a citizen's key can never spell an incident's scope.
    """
    return json.dumps([kind, *parts], ensure_ascii=False, separators=(",", ":"))


def timeline_entry(
    at: datetime,
    role: str,
    actor_id: str | None,
    action: Action | str,
    status: S,
    comment: str | None = None,
    org_id: str | None = None,
) -> dict[str, Any]:
    """`org_id`: the organisation an operator acted for (citizens are shown it, not their id)."""
    actor: dict[str, Any] = {"role": role, "id": actor_id}
    if org_id:
        actor["org_id"] = org_id
    return {
        "at": at,
        "actor": actor,
        "action": str(action),
        "status": str(status),
        "comment": comment,
    }
