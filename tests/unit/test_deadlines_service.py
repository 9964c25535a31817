"""The timers of one appeal as pure steps: pause/resume, answers, re-review, extensions, expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from libs.common.events import (
    AppealRoutedV1,
    DeadlineExtensionRequestedV1,
    EventType,
    OrganizationRef,
    RoutingReason,
    TimerKind,
)
from services.deadlines import service
from services.deadlines.expiry import fire, next_due_at
from services.deadlines.schemas import AppealClock, TimerState
from services.deadlines.service import Policy

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday morning, 12:00 in Moscow
ORG = OrganizationRef(id="org-roads", name="Дорожное хозяйство")
POLICY = Policy()
DUE_10_DAYS_MSK = datetime(2026, 3, 12, 20, 59, 59, tzinfo=UTC)


def routed_event(**changes: object) -> AppealRoutedV1:
    base: dict[str, object] = {
        "appeal_id": "a1",
        "number": "2026-000001",
        "topic": "roads.potholes",
        "organization": ORG,
        "rule": "topic",
        "answer_sla_days": 10,
        "timezone": "Europe/Moscow",
        "routed_at": T0,
    }
    return AppealRoutedV1.model_validate({**base, **changes})


def armed(**changes: object) -> AppealClock:
    return service.routed(None, routed_event(**changes), "corr", T0, POLICY).clock


def answer(clock: AppealClock):  # type: ignore[no-untyped-def]
    timer = clock.timer(TimerKind.ANSWER)
    assert timer is not None
    return timer


def test_routed_arms_answer_in_org_days_with_warnings_and_announces_it() -> None:
    outcome = service.routed(None, routed_event(), "corr", T0, POLICY)
    timer = answer(outcome.clock)
    assert timer.due_at == DUE_10_DAYS_MSK
    assert timer.warnings == [DUE_10_DAYS_MSK - timedelta(days=3), DUE_10_DAYS_MSK - timedelta(days=1)]
    assert [kind for kind, _ in outcome.events] == [EventType.DEADLINE_ARMED]
    assert not outcome.events[0][1].announced  # type: ignore[attr-defined]  # an older routing's event
    assert outcome.clock.timer(TimerKind.FIRST_RESPONSE) is None
    assert next_due_at(outcome.clock) == DUE_10_DAYS_MSK - timedelta(days=3)


def test_the_first_routings_announced_due_date_is_the_one_armed() -> None:
    """The citizen's e-mail states what the first appeal.routed announced: the timer keeps it."""
    announced = DUE_10_DAYS_MSK + timedelta(seconds=1)  # not what the rule gives: shows which won
    outcome = service.routed(None, routed_event(answer_due_at=announced), "corr", T0, POLICY)
    assert answer(outcome.clock).due_at == announced
    [(_, event)] = outcome.events
    assert event.due_at == announced  # type: ignore[attr-defined]
    assert event.announced  # type: ignore[attr-defined]  # intake, which has it, is not sent this


def test_social_appeal_gets_a_first_response_deadline_in_hours() -> None:
    outcome = service.routed(
        None, routed_event(channel="social", first_response_sla_hours=4), "c", T0, POLICY
    )
    first = outcome.clock.timer(TimerKind.FIRST_RESPONSE)
    assert first is not None and first.due_at == T0 + timedelta(hours=4)
    assert [payload.timer for _, payload in outcome.events] == [TimerKind.ANSWER, TimerKind.FIRST_RESPONSE]  # type: ignore[attr-defined]
    took = service.taken(outcome.clock, T0 + timedelta(minutes=30))  # taking is not a public reply
    assert took.clock.timer(TimerKind.FIRST_RESPONSE).state == TimerState.ARMED  # type: ignore[union-attr]
    taken = service.responded(outcome.clock, T0 + timedelta(hours=1, minutes=30))
    assert taken.clock.timer(TimerKind.FIRST_RESPONSE).state == TimerState.DONE  # type: ignore[union-attr]
    assert taken.clock.current.first_response_at == T0 + timedelta(hours=1, minutes=30)


def test_dev_topic_answer_sla_in_minutes() -> None:
    clock = armed(answer_sla_minutes=5)
    assert answer(clock).due_at == T0 + timedelta(minutes=5)
    assert answer(clock).warnings == []  # 3 days' notice makes no sense for a 5-minute deadline


def test_pause_keeps_the_remaining_time_and_resume_moves_the_deadline() -> None:
    clock = armed()
    remaining = DUE_10_DAYS_MSK - (T0 + timedelta(days=2))
    paused = service.clarification_requested(clock, T0 + timedelta(days=2)).clock
    assert answer(paused).state == TimerState.PAUSED
    assert answer(paused).remaining_seconds == remaining.total_seconds()
    assert next_due_at(paused) is None  # a paused clock never fires
    resumed_at = T0 + timedelta(days=7, hours=3)
    outcome = service.clarified(paused, resumed_at, resumed_at, POLICY)
    # 5 days 3 hours later, to the nearest end of a day: 5 days more
    assert resumed_at + remaining == DUE_10_DAYS_MSK + timedelta(days=5, hours=3)
    assert answer(outcome.clock).due_at == DUE_10_DAYS_MSK + timedelta(days=5)
    assert outcome.events[0][1].due_at == DUE_10_DAYS_MSK + timedelta(days=5)  # type: ignore[attr-defined]
    assert outcome.clock.current.paused_seconds == timedelta(days=5, hours=3).total_seconds()


@pytest.mark.parametrize(
    ("pause", "days_more"),
    [(timedelta(seconds=2), 0), (timedelta(hours=11), 0), (timedelta(hours=13), 1), (timedelta(days=3), 3)],
)
def test_a_calendar_day_deadline_resumed_still_ends_a_day(pause: timedelta, days_more: int) -> None:
    paused = service.clarification_requested(armed(), T0).clock
    resumed = service.clarified(paused, T0 + pause, T0 + pause, POLICY)
    assert answer(resumed.clock).due_at == DUE_10_DAYS_MSK + timedelta(days=days_more)


def test_a_minute_deadline_resumed_keeps_the_exact_time_left() -> None:
    paused = service.clarification_requested(armed(answer_sla_minutes=5), T0 + timedelta(minutes=1)).clock
    resumed = service.clarified(paused, T0 + timedelta(minutes=3), T0 + timedelta(minutes=3), POLICY)
    assert answer(resumed.clock).due_at == T0 + timedelta(minutes=7)


def test_a_resumed_deadline_never_ends_before_the_resume() -> None:
    # one second was left; the citizen answered three days and ten hours later: the deadline is the
    # end of that day, not the end of the day before (already past)
    nearly = DUE_10_DAYS_MSK - timedelta(seconds=1)
    paused = service.clarification_requested(armed(), nearly).clock
    at = nearly + timedelta(days=3, hours=10)
    resumed = service.clarified(paused, at, at, POLICY)
    assert answer(resumed.clock).due_at == DUE_10_DAYS_MSK + timedelta(days=4)


def test_a_stale_clarification_request_cannot_pause_the_clock_forever() -> None:
    clock = armed()
    # The "clarified" overtook the "clarification requested" it answers (a retried delivery).
    early = service.clarified(clock, T0 + timedelta(days=3), T0 + timedelta(days=3), POLICY)
    assert early.events == [] and answer(early.clock).state == TimerState.ARMED
    late = service.clarification_requested(early.clock, T0 + timedelta(days=2))
    assert not late.changed and answer(late.clock).state == TimerState.ARMED


def test_answer_on_time_opens_the_rating_window() -> None:
    at = T0 + timedelta(days=4)
    outcome = service.answered(armed(), at, 0, at, POLICY)
    assert answer(outcome.clock).state == TimerState.DONE
    window = outcome.clock.timer(TimerKind.RATING_WINDOW)
    assert window is not None and window.due_at == at + timedelta(days=30)
    assert outcome.clock.current.answered_on_time is True
    assert outcome.clock.current.first_response_at == at  # an answer is a response too


def test_answer_after_overdue_is_late() -> None:
    overdue = fire(armed(), DUE_10_DAYS_MSK + timedelta(seconds=1))
    assert [kind for kind, _ in overdue.events] == [EventType.DEADLINE_OVERDUE]
    at = DUE_10_DAYS_MSK + timedelta(days=1)
    late = service.answered(overdue.clock, at, 0, at, POLICY)
    assert late.clock.current.answered_on_time is False
    assert late.clock.current.overdue_at == DUE_10_DAYS_MSK + timedelta(seconds=1)


def test_answer_while_paused_is_on_time() -> None:
    paused = service.clarification_requested(armed(), T0 + timedelta(days=9)).clock
    at = T0 + timedelta(days=20)  # after the original date, but the clock was stopped
    assert service.answered(paused, at, 0, at, POLICY).clock.current.answered_on_time is True


def test_rating_stops_nothing_and_the_window_ends_the_appeal() -> None:
    at = T0 + timedelta(days=1)
    clock = service.answered(armed(), at, 0, at, POLICY).clock
    clock = service.rated(clock, 5).clock
    assert clock.timer(TimerKind.RATING_WINDOW).state == TimerState.ARMED  # type: ignore[union-attr]
    ended = fire(clock, at + timedelta(days=30))
    assert [kind for kind, _ in ended.events] == [EventType.RATING_WINDOW_ENDED]
    assert ended.events[0][1].ended_at == at + timedelta(days=30)  # type: ignore[attr-defined]
    assert next_due_at(ended.clock) is None


def test_rereview_chain_gives_a_fresh_deadline_at_the_same_organisation() -> None:
    first = T0 + timedelta(days=3)
    clock = service.answered(armed(), first, 0, first, POLICY).clock
    clock = service.rated(clock, 2).clock
    asked = T0 + timedelta(days=5)
    outcome = service.rereview_requested(clock, asked, 1, asked, POLICY)
    clock = outcome.clock
    assert clock.timer(TimerKind.RATING_WINDOW).state == TimerState.CANCELLED  # type: ignore[union-attr]
    assert answer(clock).round == 1
    assert answer(clock).due_at == datetime(2026, 3, 17, 20, 59, 59, tzinfo=UTC)  # 7 Mar + 10 days, Moscow
    assert outcome.events[0][0] == EventType.DEADLINE_ARMED
    second = T0 + timedelta(days=8)
    clock = service.answered(clock, second, 1, second, POLICY).clock
    assert clock.current.rereviews == 1
    assert [a.round for a in clock.current.answers] == [0, 1]
    assert clock.current.answered_at == first  # statistics: the first answer
    assert clock.timer(TimerKind.RATING_WINDOW).due_at == second + timedelta(days=30)  # type: ignore[union-attr]


def test_reassignment_keeps_the_due_date_and_announces_it_to_the_new_organisation() -> None:
    clock = armed()
    due = answer(clock).due_at
    other = OrganizationRef(id="org-parks", name="Парки")
    later = T0 + timedelta(days=2)
    outcome = service.routed(
        clock,
        routed_event(organization=other, routed_at=later, reason=RoutingReason.REASSIGNMENT, timezone="UTC"),
        "c2",
        later,
        POLICY,
    )
    clock = outcome.clock
    assert answer(clock).state == TimerState.ARMED and answer(clock).due_at == due
    assert [a.organization.id for a in clock.assignments] == ["org-roads", "org-parks"]
    assert clock.assignments[0].ended_at == later
    [(_, event)] = outcome.events
    assert event.organization == other and event.due_at == due  # type: ignore[attr-defined]


@pytest.mark.parametrize("reason", [RoutingReason.REASSIGNMENT, RoutingReason.TRIAGE])
def test_not_ours_again_and_again_never_moves_the_due_date(reason: RoutingReason) -> None:
    clock = armed()
    due = answer(clock).due_at
    for day in range(1, 9):  # eight refusals, a day apart
        at = T0 + timedelta(days=day)
        org = OrganizationRef(id=f"org-{day % 2}", name="Орг")
        clock = service.routed(
            clock, routed_event(organization=org, routed_at=at, reason=reason), "c", at, POLICY
        ).clock
        assert answer(clock).due_at == due


def test_an_overdue_appeal_stays_overdue_when_passed_on() -> None:
    clock = armed()
    after = answer(clock).due_at + timedelta(minutes=1)  # type: ignore[operator]
    clock = fire(clock, after).clock
    assert answer(clock).state == TimerState.FIRED
    moved = service.routed(
        clock,
        routed_event(
            organization=OrganizationRef(id="x", name="X"), routed_at=after, reason=RoutingReason.TRIAGE
        ),
        "c",
        after,
        POLICY,
    )
    assert answer(moved.clock).state == TimerState.FIRED and moved.events == []


def test_a_paused_deadline_stays_paused_when_passed_on() -> None:
    clock = service.clarification_requested(armed(), T0 + timedelta(days=1)).clock
    later = T0 + timedelta(days=2)
    outcome = service.routed(
        clock,
        routed_event(
            organization=OrganizationRef(id="x", name="X"), routed_at=later, reason=RoutingReason.REASSIGNMENT
        ),
        "c",
        later,
        POLICY,
    )
    assert answer(outcome.clock).state == TimerState.PAUSED and outcome.events == []


def extension(days: int = 5, org: OrganizationRef | None = ORG) -> DeadlineExtensionRequestedV1:
    return DeadlineExtensionRequestedV1(
        appeal_id="a1", number="2026-000001", organization=org, at=T0, operator_id="op", days=days, reason="r"
    )


def test_extension_is_bounded_per_round_and_audited() -> None:
    granted = service.extension_requested(armed(), extension(5), T0, POLICY)
    assert answer(granted.clock).due_at == DUE_10_DAYS_MSK + timedelta(days=5)
    assert granted.events[0][1].due_at == DUE_10_DAYS_MSK + timedelta(days=5)  # type: ignore[attr-defined]
    again = service.extension_requested(granted.clock, extension(1), T0, POLICY)
    assert again.events == [] and answer(again.clock).due_at == DUE_10_DAYS_MSK + timedelta(days=5)
    assert [(e.granted, e.days) for e in again.clock.extensions] == [(True, 5), (False, 1)]
    assert "at most 1 extension" in again.clock.extensions[1].note


def test_extension_refused_when_too_long_from_another_org_or_after_the_answer() -> None:
    too_long = service.extension_requested(armed(), extension(31), T0, POLICY)
    assert too_long.events == [] and "at most 30 days" in too_long.note
    stranger = service.extension_requested(
        armed(), extension(2, OrganizationRef(id="x", name="X")), T0, POLICY
    )
    assert stranger.events == [] and "does not hold" in stranger.note
    done = service.answered(armed(), T0, 0, T0, POLICY).clock
    assert "no running answer deadline" in service.extension_requested(done, extension(2), T0, POLICY).note


def test_extension_while_paused_extends_the_remainder() -> None:
    paused = service.clarification_requested(armed(), T0).clock
    extended = service.extension_requested(paused, extension(3), T0, POLICY)
    assert extended.events == []  # announced with the new due date on resume
    resumed = service.clarified(extended.clock, T0, T0, POLICY)
    assert answer(resumed.clock).due_at == DUE_10_DAYS_MSK + timedelta(days=3)


def test_after_downtime_only_the_latest_warning_is_sent() -> None:
    clock = armed()
    outcome = fire(clock, DUE_10_DAYS_MSK - timedelta(hours=20))  # both 3-day and 1-day marks passed
    assert [kind for kind, _ in outcome.events] == [EventType.DEADLINE_WARNING]
    assert outcome.events[0][1].remaining_hours == 20  # type: ignore[attr-defined]
    assert next_due_at(outcome.clock) == DUE_10_DAYS_MSK
    overdue = fire(outcome.clock, DUE_10_DAYS_MSK + timedelta(days=40))
    assert [kind for kind, _ in overdue.events] == [EventType.DEADLINE_OVERDUE]


def test_closed_cancels_everything() -> None:
    clock = service.routed(None, routed_event(first_response_sla_hours=4), "c", T0, POLICY).clock
    clock = service.closed(clock, T0 + timedelta(hours=1)).clock
    assert {t.state for t in clock.timers.values()} == {TimerState.CANCELLED}
    assert next_due_at(clock) is None
    assert fire(clock, T0 + timedelta(days=100)).events == []


def test_first_response_deadline_is_warned_about_an_hour_before_and_stops_on_the_public_reply() -> None:
    outcome = service.routed(
        None, routed_event(channel="social", first_response_sla_hours=4), "c", T0, POLICY
    )
    first = outcome.clock.timer(TimerKind.FIRST_RESPONSE)
    assert first is not None and first.warnings == [T0 + timedelta(hours=3)]
    replied = service.responded(outcome.clock, T0 + timedelta(hours=2))
    assert replied.clock.timer(TimerKind.FIRST_RESPONSE).state == TimerState.DONE  # type: ignore[union-attr]
    assert replied.clock.timer(TimerKind.FIRST_RESPONSE).warnings == []  # type: ignore[union-attr]
