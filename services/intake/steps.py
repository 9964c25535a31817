"""What each action does to an appeal: pure planners from (appeal, now) to a Step. No I/O.

The writer (`actions.AppealWriter`) reads the stored appeal, hands its typed view
(`records.Appeal`) to a planner and writes the Step in one guarded update
(`libs/common/aggregate.py`); this module never imports the writer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from libs.common.auth import Principal
from libs.common.events import (
    AppealAnsweredV1,
    AppealClarifiedV1,
    AppealClosedV1,
    AppealRatedV1,
    AppealRejectedV1,
    AppealRoutedV1,
    AppealTakenV1,
    ClarificationRequestedV1,
    ClosedReason,
    DeadlineArmedV1,
    DeadlineExtensionRequestedV1,
    DeadlineOverdueV1,
    EscalationReason,
    EscalationRequestedV1,
    EventType,
    IncidentRespondedV1,
    ReassignRequestedV1,
    RereviewRequestedV1,
    RoutingReason,
    TimerKind,
)
from libs.common.store import Document
from services.intake.records import Appeal
from services.intake.schemas import AppealStatus
from services.intake.service import (
    Action,
    check_escalation,
    check_first_response,
    check_rating,
    rating_action,
)

DUE_FIELD = {TimerKind.ANSWER: "due_at", TimerKind.FIRST_RESPONSE: "first_response_due_at"}


@dataclass
class Step:
    """What one action does to an appeal, planned from its current state: `changes` are stored
    fields to set, `push` one item each to append to a stored array, `events` the events that
    announce it, `comment` the timeline entry's text."""

    action: Action
    changes: Document = field(default_factory=dict)
    events: list[tuple[EventType, BaseModel]] = field(default_factory=list)
    comment: str | None = None
    push: Document = field(default_factory=dict)
    unchanged: bool = False  # nothing to do (e.g. the same public choice again): no write, no entry


Planner = Callable[[Appeal, datetime], Step]


def fact(appeal: Appeal, now: datetime) -> dict[str, Any]:
    """The fields every lifecycle event of this appeal carries."""
    return {"appeal_id": appeal.id, "number": appeal.number, "organization": appeal.organization, "at": now}


# -- the author ---------------------------------------------------------------------------------


def publication(public: bool) -> Planner:
    """Make the appeal public (masked, on the public list and in Open311) or private again. The
    same choice again changes nothing and records nothing. No event: the public list and Open311
    read intake's own store, so they follow at once."""

    def plan(appeal: Appeal, now: datetime) -> Step:
        action = Action.MAKE_PUBLIC if public else Action.MAKE_PRIVATE
        return Step(action, {"public": public}, unchanged=appeal.public == public)

    return plan


# -- operators --------------------------------------------------------------------------------


def take(principal: Principal) -> Planner:
    def plan(appeal: Appeal, now: datetime) -> Step:
        taken = AppealTakenV1(**fact(appeal, now), operator_id=principal.sub)
        return Step(Action.TAKE, {"operator_id": principal.sub}, [(EventType.APPEAL_TAKEN, taken)])

    return plan


def first_response(principal: Principal, text: str) -> Planner:
    """The organisation's first public reply to a social incident: its own step, distinct from the
    answer; it stops the first-response deadline and goes back to the connector (`incident.responded`)."""

    def plan(appeal: Appeal, now: datetime) -> Step:
        check_first_response(appeal)
        event = IncidentRespondedV1(
            **fact(appeal, now), operator_id=principal.sub, text=text, source_post=appeal.source_post
        )
        changes = {"first_response": {"text": text, "at": now, "operator_id": principal.sub}}
        return Step(Action.RESPOND, changes, [(EventType.INCIDENT_RESPONDED, event)], text)

    return plan


def request_clarification(principal: Principal, question: str) -> Planner:
    def plan(appeal: Appeal, now: datetime) -> Step:
        event = ClarificationRequestedV1(**fact(appeal, now), operator_id=principal.sub, question=question)
        changes = {"clarification": {"question": question, "asked_at": now}}
        return Step(
            Action.REQUEST_CLARIFICATION,
            changes,
            [(EventType.APPEAL_CLARIFICATION_REQUESTED, event)],
            question,
        )

    return plan


def answer(principal: Principal, text: str, media_ids: list[str], public: bool = False) -> Planner:
    def plan(appeal: Appeal, now: datetime) -> Step:
        rereview_round = appeal.rereview_round
        record = {"index": len(appeal.answers), "text": text, "media_ids": media_ids, "at": now}
        if public:
            record["public"] = True
        event = AppealAnsweredV1(
            **fact(appeal, now),
            operator_id=principal.sub,
            text=text,
            media_ids=media_ids,
            round=rereview_round,
        )
        return Step(
            Action.ANSWER,
            {"answered_at": now},
            [(EventType.APPEAL_ANSWERED, event)],
            text,
            push={"answers": {**record, "operator_id": principal.sub, "round": rereview_round}},
        )

    return plan


def reassign(principal: Principal, reason: str) -> Planner:
    """'Not ours': the appeal leaves this organisation's queue and goes back to routing. Its due
    dates stay: a reassignment never gives anyone more time than the citizen was promised."""

    def plan(appeal: Appeal, now: datetime) -> Step:
        event = ReassignRequestedV1(**fact(appeal, now), operator_id=principal.sub, reason=reason)
        changes = {"organization": None}
        return Step(Action.REASSIGN, changes, [(EventType.APPEAL_REASSIGN_REQUESTED, event)], reason)

    return plan


def extend(principal: Principal, days: int, reason: str) -> Planner:
    def plan(appeal: Appeal, now: datetime) -> Step:
        event = DeadlineExtensionRequestedV1(
            **fact(appeal, now), operator_id=principal.sub, days=days, reason=reason
        )
        return Step(
            Action.EXTEND,
            events=[(EventType.DEADLINE_EXTENSION_REQUESTED, event)],
            comment=f"+{days}: {reason}",
        )

    return plan


# -- citizens ---------------------------------------------------------------------------------


def comment(principal: Principal, text: str) -> Planner:
    """A comment; the author's comment answers a pending clarification request and resumes work."""

    def plan(appeal: Appeal, now: datetime) -> Step:
        waiting = appeal.status is AppealStatus.CLARIFICATION_REQUESTED
        if waiting and appeal.author_id == principal.sub:
            event = AppealClarifiedV1(**fact(appeal, now))
            changes = {"clarification.answered_at": now}
            return Step(Action.CLARIFY, changes, [(EventType.APPEAL_CLARIFIED, event)], text)
        return Step(Action.COMMENT, comment=text)

    return plan


def rate(score: int) -> Planner:
    def plan(appeal: Appeal, now: datetime) -> Step:
        check_rating(appeal)
        rereview_round = appeal.rereview_round
        answer_index = len(appeal.answers) - 1
        rated = AppealRatedV1(**fact(appeal, now), score=score, round=rereview_round)
        step = Step(
            rating_action(score) if rereview_round == 0 else Action.RATE,
            {"rating": score},
            [(EventType.APPEAL_RATED, rated)],
            f"{score}/5",
            push={
                "ratings": {"answer_index": answer_index, "score": score, "at": now, "round": rereview_round}
            },
        )
        if step.action is Action.RATE_LOW:
            step.changes["rereview_round"] = rereview_round + 1
            rereview = RereviewRequestedV1(**fact(appeal, now), round=rereview_round + 1)
            step.events.append((EventType.APPEAL_REREVIEW_REQUESTED, rereview))
        elif score <= 2:  # low again after a re-review: the parent organisation takes over
            step.changes["escalation_pending"] = True
            step.events.append(_escalation(appeal, now, EscalationReason.LOW_RATING_AFTER_REREVIEW))
        return step

    return plan


def request_escalation() -> Planner:
    def plan(appeal: Appeal, now: datetime) -> Step:
        check_escalation(appeal)
        event = _escalation(appeal, now, EscalationReason.CITIZEN)
        return Step(Action.REQUEST_ESCALATION, {"escalation_pending": True}, [event])

    return plan


def _escalation(
    appeal: Appeal, now: datetime, reason: EscalationReason
) -> tuple[EventType, EscalationRequestedV1]:
    return EventType.APPEAL_ESCALATION_REQUESTED, EscalationRequestedV1(
        **fact(appeal, now), reason=reason, escalation_level=appeal.escalation_level
    )


# -- decisions of other services ----------------------------------------------------------------


def routed(payload: AppealRoutedV1) -> Planner:
    def plan(appeal: Appeal, now: datetime) -> Step:
        changes: Document = {
            "organization": payload.organization.model_dump(),
            "routing_rule": payload.rule,
            "escalation_level": payload.escalation_level,
        }
        if payload.area_id:  # where the place lies: the public list's area filter
            changes["area_id"] = payload.area_id
        if payload.topic and not appeal.topic:  # a raw post: classified by routing or the centre
            changes["topic"] = payload.topic
        if payload.location is not None:
            changes["location"] = payload.location.model_dump()
        if payload.repeat_of is not None:
            changes["repeat_of"] = payload.repeat_of.model_dump()
        if payload.answer_due_at is not None:  # the first routing's: deadlines arms exactly this
            changes |= answer_due(payload.answer_due_at)
        if payload.reason is RoutingReason.ESCALATION:
            changes |= {"escalation_pending": False, "rereview_round": 0}
            return Step(Action.ESCALATE, changes, comment=payload.organization.name)
        if payload.reason is RoutingReason.TRIAGE:
            return Step(Action.TRIAGE, changes, comment=payload.organization.name)
        return Step(Action.ROUTE, changes, comment=payload.organization.name)

    return plan


def rejected(payload: AppealRejectedV1) -> Planner:
    def plan(appeal: Appeal, now: datetime) -> Step:
        changes = {"rejection": {"code": payload.reason_code, "reason": payload.reason}}
        return Step(Action.REJECT, changes, comment=payload.reason)

    return plan


def rating_window_ended() -> Planner:
    def plan(appeal: Appeal, now: datetime) -> Step:
        reason = ClosedReason.RATED if appeal.ratings else ClosedReason.RATING_WINDOW_ENDED
        closed = AppealClosedV1(**fact(appeal, now), reason=reason)
        return Step(Action.CLOSE, {"closed_at": now}, [(EventType.APPEAL_CLOSED, closed)], str(reason))

    return plan


def answer_due(due_at: datetime) -> Document:
    """A fresh answer deadline, which also clears an earlier overdue flag."""
    return {"due_at": due_at, "overdue": False, "overdue_at": None}


def deadline_armed(payload: DeadlineArmedV1) -> Document:
    """A (new) deadline."""
    if payload.timer is TimerKind.ANSWER:
        return answer_due(payload.due_at)
    return {DUE_FIELD.get(payload.timer, f"{payload.timer}_due_at"): payload.due_at}


def deadline_overdue(payload: DeadlineOverdueV1) -> Document:
    if payload.timer is TimerKind.ANSWER:
        return {"overdue": True, "overdue_at": payload.overdue_at}
    return {f"{payload.timer}_overdue": True}
