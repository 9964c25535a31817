"""When timers expire: the instant the scheduler's index is on, and what firing announces. Pure."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from pydantic import BaseModel

from libs.common.events import (
    DeadlineOverdueV1,
    DeadlineWarningV1,
    EventType,
    RatingWindowEndedV1,
    TimerKind,
)
from services.deadlines.schemas import AppealClock, Timer, TimerState
from services.deadlines.service import Outcome

HOUR = timedelta(hours=1)


def next_due_at(clock: AppealClock) -> datetime | None:
    """The earliest instant something must happen: the value the scheduler's index is on."""
    instants = [
        instant
        for timer in clock.timers.values()
        if timer.state == TimerState.ARMED and timer.due_at is not None
        for instant in (timer.due_at, *timer.warnings)
    ]
    return min(instants, default=None)


def fire(clock: AppealClock, now: datetime) -> Outcome:
    """Everything due by `now`: overdue, the latest due warning only, the end of the rating window."""
    clock = clock.model_copy(deep=True)
    events: list[tuple[EventType, BaseModel]] = []
    for timer in clock.timers.values():
        if timer.state != TimerState.ARMED or timer.due_at is None:
            continue
        due = timer.due_at
        if due <= now:
            timer.state, timer.ended_at, timer.warnings = TimerState.FIRED, now, []
            events.append(_expired(clock, timer, due, now))
        elif timer.warnings and timer.warnings[0] <= now:
            timer.warnings = [w for w in timer.warnings if w > now]
            remaining = math.ceil((due - now) / HOUR)
            warning = DeadlineWarningV1(
                appeal_id=clock.appeal_id,
                number=clock.number,
                timer=timer.kind,
                due_at=due,
                organization=clock.organization,
                remaining_hours=remaining,
            )
            events.append((EventType.DEADLINE_WARNING, warning))
    note = ", ".join(str(kind) for kind, _ in events) or "nothing due"
    return Outcome(clock, events, note=note, changed=True)


def _expired(clock: AppealClock, timer: Timer, due: datetime, now: datetime) -> tuple[EventType, BaseModel]:
    if timer.kind == TimerKind.RATING_WINDOW:
        ended = RatingWindowEndedV1(
            appeal_id=clock.appeal_id, number=clock.number, organization=clock.organization, ended_at=due
        )
        return EventType.RATING_WINDOW_ENDED, ended
    if timer.kind == TimerKind.ANSWER and clock.current.overdue_at is None:
        clock.current.overdue_at = now
    overdue = DeadlineOverdueV1(
        appeal_id=clock.appeal_id,
        number=clock.number,
        timer=timer.kind,
        due_at=due,
        organization=clock.organization,
        overdue_at=now,
    )
    return EventType.DEADLINE_OVERDUE, overdue
