import pytest

from services.intake.schemas import AppealStatus as S
from services.intake.service import Action, IllegalTransition, allowed_actions, appeal_number, next_status


@pytest.mark.parametrize(
    ("current", "action", "expected"),
    [
        (S.RECEIVED, Action.ROUTE, S.ROUTED),
        (S.RECEIVED, Action.REJECT, S.REJECTED),
        (S.ROUTED, Action.TAKE, S.IN_WORK),
        (S.IN_WORK, Action.REQUEST_CLARIFICATION, S.CLARIFICATION_REQUESTED),
        (S.CLARIFICATION_REQUESTED, Action.CLARIFY, S.IN_WORK),
        (S.IN_WORK, Action.ANSWER, S.ANSWERED),
        (S.ANSWERED, Action.RATE_LOW, S.REREVIEW),
        (S.REREVIEW, Action.TAKE, S.IN_WORK),
        (S.ANSWERED, Action.RATE, S.CLOSED),
        (S.ANSWERED, Action.CLOSE, S.CLOSED),
    ],
)
def test_legal_steps(current: S, action: Action, expected: S) -> None:
    assert next_status(current, action) is expected


def test_illegal_step_names_current_status_and_allowed_actions() -> None:
    with pytest.raises(IllegalTransition) as caught:
        next_status(S.REJECTED, Action.ROUTE)
    assert caught.value.current is S.REJECTED
    assert caught.value.allowed == []
    with pytest.raises(IllegalTransition) as caught:
        next_status(S.ROUTED, Action.ANSWER)
    assert caught.value.allowed == allowed_actions(S.ROUTED) == ["reassign", "route", "take"]


def test_closed_is_terminal() -> None:
    assert allowed_actions(S.CLOSED) == []


def test_numbers_are_human_friendly() -> None:
    assert appeal_number(2026, 123) == "2026-000123"
