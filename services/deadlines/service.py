"""The timers of one appeal through its lifecycle: pure domain logic, no I/O.

Every step takes the appeal's record (or None), the event and the times, and returns an
`Outcome`: the new record plus the events to announce. `flows.py` stores both in one write.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import BaseModel

from libs.common.clock import answer_due_at
from libs.common.events import (
    AppealRoutedV1,
    DeadlineArmedV1,
    DeadlineExtensionRequestedV1,
    EventType,
    RoutingReason,
    TimerKind,
)
from services.deadlines.dates import (
    extended_due_at,
    first_response_due_at,
    nearest_end_of_day,
    warning_times,
)
from services.deadlines.schemas import (
    ACTIVE,
    AnswerRecord,
    AppealClock,
    Assignment,
    Extension,
    Timer,
    TimerState,
)

# -- the steps ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    warning_offsets: tuple[timedelta, ...] = (timedelta(days=3), timedelta(days=1))
    # A social incident's first public reply is due in hours: warned about hours before.
    first_response_warning_offsets: tuple[timedelta, ...] = (timedelta(hours=1),)
    rating_window: timedelta = timedelta(days=30)
    max_extensions_per_round: int = 1
    max_extension_days: int = 30


@dataclass
class Outcome:
    clock: AppealClock
    events: list[tuple[EventType, BaseModel]] = field(default_factory=list)
    note: str = "applied"  # what happened, for the log
    changed: bool = True


def _unchanged(clock: AppealClock, note: str) -> Outcome:
    return Outcome(clock, note=note, changed=False)


def _answer_due(clock: AppealClock, start: datetime) -> datetime:
    return answer_due_at(start, clock.answer_sla_days, clock.timezone, clock.answer_sla_minutes)


def _armed_event(
    clock: AppealClock, timer: Timer, now: datetime, announced: bool = False
) -> tuple[EventType, BaseModel]:
    assert timer.due_at is not None
    armed = DeadlineArmedV1(
        appeal_id=clock.appeal_id,
        number=clock.number,
        timer=timer.kind,
        due_at=timer.due_at,
        organization=clock.organization,
        armed_at=now,
        timezone=clock.timezone,
        announced=announced,
    )
    return EventType.DEADLINE_ARMED, armed


def _arm(
    clock: AppealClock,
    kind: TimerKind,
    due: datetime,
    now: datetime,
    policy: Policy,
    round_: int = 0,
    announced: bool = False,
) -> tuple[EventType, BaseModel]:
    offsets = {
        TimerKind.ANSWER: policy.warning_offsets,
        TimerKind.FIRST_RESPONSE: policy.first_response_warning_offsets,
    }.get(kind, ())
    warnings = warning_times(due, now, offsets)
    timer = Timer(
        kind=kind, state=TimerState.ARMED, round=round_, armed_at=now, due_at=due, warnings=warnings
    )
    clock.timers[str(kind)] = timer
    return _armed_event(clock, timer, now, announced)


def _end(timer: Timer | None, state: TimerState, at: datetime) -> None:
    if timer is not None and timer.state in ACTIVE:
        timer.state, timer.ended_at, timer.warnings = state, at, []


# Moves that must not give the organisations more time than the citizen was promised.
KEEPS_DEADLINE = (RoutingReason.REASSIGNMENT, RoutingReason.TRIAGE)


def routed(
    clock: AppealClock | None, event: AppealRoutedV1, correlation_id: str, now: datetime, policy: Policy
) -> Outcome:
    """Routed: the first time and on escalation a fresh answer deadline at that organisation; on a
    reassignment ("not ours") or the control centre's triage the deadlines the citizen was given
    stay as they are (an answer timer keeps its due date, paused or fired ones stay so) and move
    with the appeal: re-arming there would let "not ours" push the due date forward for ever."""
    responded = clock is not None and any(a.first_response_at for a in clock.assignments)
    fields = {
        "number": event.number,
        "organization": event.organization,
        "topic": event.topic,
        "timezone": event.timezone,
        "channel": event.channel,
        "answer_sla_days": event.answer_sla_days,
        "answer_sla_minutes": event.answer_sla_minutes,
        "first_response_sla_hours": event.first_response_sla_hours,
        "escalation_level": event.escalation_level,
        "correlation_id": correlation_id,
        "closed_at": None,
    }
    answer = clock.timers.get(str(TimerKind.ANSWER)) if clock is not None else None
    owed = answer is not None and answer.state in (*ACTIVE, TimerState.FIRED)  # running, paused or overdue
    if clock is not None and owed and event.reason in KEEPS_DEADLINE:
        clock = clock.model_copy(update=fields, deep=True)
        if clock.assignments and clock.current.ended_at is None:
            clock.current.ended_at = event.routed_at
        clock.assignments.append(_assignment(event))
        kept = [
            _armed_event(clock, timer, now)
            for timer in clock.timers.values()
            if timer.state == TimerState.ARMED and timer.kind != TimerKind.RATING_WINDOW
        ]  # announced again for the new organisation, with the same due dates
        return Outcome(clock, kept, note=f"moved to {event.organization.id}, deadlines kept ({event.reason})")
    if clock is None:
        clock = AppealClock(appeal_id=event.appeal_id, **fields)
    else:
        clock = clock.model_copy(update=fields, deep=True)
        if clock.assignments and clock.current.ended_at is None:
            clock.current.ended_at = event.routed_at
        for timer in clock.timers.values():
            _end(timer, TimerState.CANCELLED, event.routed_at)
    clock.assignments.append(_assignment(event))
    # The first routing announced its due date (the same rule): the citizen's e-mail states it.
    due = event.answer_due_at or _answer_due(clock, event.routed_at)
    events = [_arm(clock, TimerKind.ANSWER, due, now, policy, announced=event.answer_due_at is not None)]
    if event.first_response_sla_hours and not responded:
        due = first_response_due_at(event.routed_at, event.first_response_sla_hours)
        events.append(_arm(clock, TimerKind.FIRST_RESPONSE, due, now, policy))
    return Outcome(clock, events, note=f"armed at {event.organization.id} ({event.reason})")


def _assignment(event: AppealRoutedV1) -> Assignment:
    return Assignment(
        organization=event.organization,
        topic=event.topic,
        received_at=event.routed_at,
        area_id=event.area_id,
        channel=event.channel,
        first_response_sla_hours=event.first_response_sla_hours,
        repeat=event.repeat_of is not None,
    )


def taken(clock: AppealClock, at: datetime) -> Outcome:
    """Taking the appeal is its first response, except for a social-media incident: there only the
    organisation's public reply counts (`incident.responded`, docs/deadlines.md)."""
    if clock.channel == "social":
        return _unchanged(clock.model_copy(deep=True), "taking a social incident is not its public reply")
    return responded(clock, at)


def responded(clock: AppealClock, at: datetime) -> Outcome:
    """The first response: stops the first-response timer, records the time it took."""
    clock = clock.model_copy(deep=True)
    if clock.current.first_response_at is not None:
        return _unchanged(clock, "first response already recorded")
    clock.current.first_response_at = at
    _end(clock.timer(TimerKind.FIRST_RESPONSE), TimerState.DONE, at)
    return Outcome(clock, note="first response recorded")


def clarification_requested(clock: AppealClock, at: datetime) -> Outcome:
    """Waiting for the citizen: the answer clock stops, the remaining time is kept."""
    clock = clock.model_copy(deep=True)
    answer = clock.timer(TimerKind.ANSWER)
    if answer is None or answer.state != TimerState.ARMED or answer.due_at is None:
        return _unchanged(clock, "no running answer deadline to pause")
    if answer.last_resumed_at and at < answer.last_resumed_at:
        return _unchanged(clock, "a stale request: the clarification already came")
    answer.remaining_seconds = max(0.0, (answer.due_at - at).total_seconds())
    answer.state, answer.paused_at, answer.due_at, answer.warnings = TimerState.PAUSED, at, None, []
    return Outcome(clock, note="answer clock paused")


def _stop_pause(clock: AppealClock, answer: Timer, at: datetime) -> None:
    if answer.paused_at is not None and clock.current.answered_at is None:
        clock.current.paused_seconds += max(0.0, (at - answer.paused_at).total_seconds())
    answer.paused_at = None


def clarified(clock: AppealClock, at: datetime, now: datetime, policy: Policy) -> Outcome:
    """The citizen answered: the clock runs again with the time that was left."""
    clock = clock.model_copy(deep=True)
    answer = clock.timer(TimerKind.ANSWER)
    if answer is None:
        return _unchanged(clock, "no answer deadline")
    if answer.state != TimerState.PAUSED:
        # Remembered: a request older than this, arriving late, must not pause the clock.
        answer.last_resumed_at = max(at, answer.last_resumed_at or at)
        return Outcome(clock, note="the answer clock was not paused")
    _stop_pause(clock, answer, at)
    due = at + timedelta(seconds=answer.remaining_seconds or 0.0)
    if not clock.answer_sla_minutes:  # calendar days: still the end of a day (docs/deadlines.md)
        due = nearest_end_of_day(due, at, clock.timezone)
    answer.state, answer.due_at, answer.remaining_seconds, answer.last_resumed_at = (
        TimerState.ARMED,
        due,
        None,
        at,
    )
    answer.warnings = warning_times(due, now, policy.warning_offsets)
    return Outcome(clock, [_armed_event(clock, answer, now)], note="answer clock resumed")


def answered(clock: AppealClock, at: datetime, round_: int, now: datetime, policy: Policy) -> Outcome:
    """The answer: on time or late is recorded; the citizen's rating window opens."""
    clock = clock.model_copy(deep=True)
    answer = clock.timer(TimerKind.ANSWER)
    if answer is None or answer.state not in (*ACTIVE, TimerState.FIRED):
        return _unchanged(clock, "no answer deadline waiting for this answer")
    if answer.state == TimerState.PAUSED:
        _stop_pause(clock, answer, at)
    on_time = answer.state == TimerState.PAUSED or (
        answer.state == TimerState.ARMED and answer.due_at is not None and at <= answer.due_at
    )
    answer.state, answer.ended_at, answer.warnings = TimerState.DONE, at, []
    current = clock.current
    current.answers.append(AnswerRecord(round=round_, at=at, on_time=on_time))
    if current.answered_at is None:
        current.answered_at, current.answered_on_time = at, on_time
    if current.first_response_at is None:
        current.first_response_at = at  # an answer is a response
    _end(clock.timer(TimerKind.FIRST_RESPONSE), TimerState.DONE, at)
    window = _arm(clock, TimerKind.RATING_WINDOW, at + policy.rating_window, now, policy, round_)
    return Outcome(clock, [window], note="answered " + ("on time" if on_time else "late"))


def rated(clock: AppealClock, score: int) -> Outcome:
    """A rating is a fact for the statistics; it stops nothing (the rating window ends the appeal)."""
    clock = clock.model_copy(deep=True)
    clock.current.ratings.append(score)
    return Outcome(clock, note=f"rated {score}")


def rereview_requested(
    clock: AppealClock, at: datetime, round_: int, now: datetime, policy: Policy
) -> Outcome:
    """Back to the same organisation with a fresh answer deadline; the rating window is moot."""
    clock = clock.model_copy(deep=True)
    if clock.closed_at is not None:
        return _unchanged(clock, "the appeal is closed")
    _end(clock.timer(TimerKind.RATING_WINDOW), TimerState.CANCELLED, at)
    clock.current.rereviews += 1
    armed = _arm(clock, TimerKind.ANSWER, _answer_due(clock, at), now, policy, round_)
    return Outcome(clock, [armed], note=f"re-review round {round_} armed")


def closed(clock: AppealClock, at: datetime) -> Outcome:
    """The appeal closed at `at`: every running timer cancelled, the current assignment ended.
    Unchanged if already closed."""
    clock = clock.model_copy(deep=True)
    if clock.closed_at is not None:
        return _unchanged(clock, "already closed")
    clock.closed_at = at
    clock.current.ended_at = clock.current.ended_at or at
    for timer in clock.timers.values():
        _end(timer, TimerState.CANCELLED, at)
    return Outcome(clock, note="closed: timers cancelled")


def _extension_refusal(
    clock: AppealClock, request: DeadlineExtensionRequestedV1, policy: Policy
) -> str | None:
    answer = clock.timer(TimerKind.ANSWER)
    if clock.closed_at is not None:
        return "the appeal is closed"
    if answer is None or answer.state not in ACTIVE:
        return "no running answer deadline (already answered or overdue)"
    if request.organization is not None and request.organization.id != clock.organization.id:
        return f"{request.organization.id} does not hold the appeal"
    if answer.extensions >= policy.max_extensions_per_round:
        return f"at most {policy.max_extensions_per_round} extension(s) per deadline"
    if request.days > policy.max_extension_days:
        return f"at most {policy.max_extension_days} days per extension"
    return None


def extension_requested(
    clock: AppealClock, request: DeadlineExtensionRequestedV1, now: datetime, policy: Policy
) -> Outcome:
    """Bounded and audited: granted moves the deadline (or the paused remainder), refused is recorded."""
    clock = clock.model_copy(deep=True)
    answer = clock.timer(TimerKind.ANSWER)
    refusal = _extension_refusal(clock, request, policy)
    audit = Extension(
        at=request.at,
        operator_id=request.operator_id,
        organization_id=request.organization.id if request.organization else None,
        days=request.days,
        reason=request.reason,
        round=answer.round if answer else 0,
        granted=refusal is None,
        note=refusal or "granted",
        due_before=answer.due_at if answer else None,
    )
    clock.extensions.append(audit)
    if refusal is not None or answer is None:
        return Outcome(clock, note=f"extension refused: {refusal}")
    answer.extensions += 1
    if answer.state == TimerState.PAUSED:  # announced with the new due date on resume
        answer.remaining_seconds = (answer.remaining_seconds or 0.0) + request.days * 86400
        return Outcome(clock, note=f"extension of {request.days} days granted (paused)")
    assert answer.due_at is not None
    answer.due_at = audit.due_after = extended_due_at(answer.due_at, request.days, clock.timezone)
    answer.warnings = warning_times(answer.due_at, now, policy.warning_offsets)
    return Outcome(
        clock, [_armed_event(clock, answer, now)], note=f"extension of {request.days} days granted"
    )
