from typing import Any

import pytest

from services.intake.records import Appeal
from services.intake.schemas import AppealStatus as S
from services.intake.service import (
    Action,
    IllegalTransition,
    actions_for,
    allowed_actions,
    appeal_number,
    canonical_post_url,
    check_escalation,
    check_rating,
    next_status,
    rating_action,
    summarize,
)


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
        (S.ANSWERED, Action.RATE, S.ANSWERED),  # stays until the rating window ends
        (S.ANSWERED, Action.CLOSE, S.CLOSED),
        (S.ROUTED, Action.REASSIGN, S.RECEIVED),
        (S.IN_WORK, Action.REASSIGN, S.RECEIVED),
        (S.ANSWERED, Action.ESCALATE, S.ROUTED),
        (S.IN_WORK, Action.ESCALATE, S.ROUTED),
        (S.CLARIFICATION_REQUESTED, Action.COMMENT, S.CLARIFICATION_REQUESTED),
    ],
)
def test_legal_steps(current: S, action: Action, expected: S) -> None:
    assert next_status(current, action) is expected


@pytest.mark.parametrize(
    ("current", "action"),
    [
        (S.REJECTED, Action.ROUTE),
        (S.ROUTED, Action.ANSWER),
        (S.RECEIVED, Action.TAKE),
        (S.CLOSED, Action.COMMENT),
        (S.IN_WORK, Action.RATE),
        (S.ANSWERED, Action.TAKE),
        (S.CLARIFICATION_REQUESTED, Action.ANSWER),
    ],
)
def test_illegal_steps_name_current_status_and_allowed_actions(current: S, action: Action) -> None:
    with pytest.raises(IllegalTransition) as caught:
        next_status(current, action)
    assert caught.value.current is current
    assert caught.value.allowed == allowed_actions(current)
    assert str(action) not in caught.value.allowed


def test_closed_and_rejected_are_terminal() -> None:
    # A closed appeal keeps only its author's public choice (a status-preserving step).
    assert allowed_actions(S.CLOSED) == ["make_private", "make_public"]
    assert all(next_status(S.CLOSED, Action(a)) is S.CLOSED for a in allowed_actions(S.CLOSED))
    assert allowed_actions(S.REJECTED) == []


def stored(**fields: Any) -> Appeal:
    """A stored appeal document's typed view (`records.Appeal`)."""
    return Appeal.of({"_id": "a1", "number": "2026-000001", **fields})


def test_low_rating_is_one_or_two() -> None:
    assert [rating_action(score) for score in range(1, 6)] == [Action.RATE_LOW] * 2 + [Action.RATE] * 3


def test_an_answer_is_rated_once_and_a_new_answer_again() -> None:
    answered = {"status": "answered", "answers": [{"index": 0}], "ratings": []}
    check_rating(stored(**answered))
    rated = {**answered, "ratings": [{"answer_index": 0, "score": 2}]}
    with pytest.raises(IllegalTransition, match="already been rated"):
        check_rating(stored(**rated))
    check_rating(stored(**{**rated, "answers": [{"index": 0}, {"index": 1}]}))


def test_escalation_after_an_answer_or_when_overdue_only() -> None:
    check_escalation(stored(**{"status": "answered"}))
    check_escalation(stored(**{"status": "in_work", "overdue": True}))
    with pytest.raises(IllegalTransition, match="after an answer or once the deadline"):
        check_escalation(stored(**{"status": "in_work", "overdue": False}))
    with pytest.raises(IllegalTransition, match="already under way"):
        check_escalation(stored(**{"status": "answered", "escalation_pending": True}))
    with pytest.raises(IllegalTransition):
        check_escalation(stored(**{"status": "received", "overdue": True}))


def test_actions_offered_to_each_role() -> None:
    publication = ["make_private", "make_public"]
    answered = {"status": "answered", "answers": [{"index": 0}], "ratings": []}
    assert actions_for("citizen", stored(**answered)) == [
        "comment",
        "escalation_request",
        *publication,
        "rating",
    ]
    assert actions_for("operator", stored(status="routed")) == ["comment", "extend", "reassign", "take"]
    assert actions_for("citizen", stored(status="clarification_requested")) == [
        "clarify",
        "comment",
        *publication,
    ]
    assert "escalation_request" in actions_for(
        "citizen", stored(status="clarification_requested", overdue=True)
    )
    assert actions_for("monitor", stored(status="routed")) == []
    social = actions_for("operator", stored(status="in_work", channel="social"))
    assert "first_response" in social and "first_response" not in actions_for(
        "operator", stored(status="in_work")
    )


def test_actions_the_appeal_own_rules_refuse_are_not_offered() -> None:
    # Found by a fresh-user run: "rating" was offered after the answer had been rated (then 409).
    rated = {"status": "answered", "answers": [{"index": 0}], "ratings": [{"answer_index": 0, "score": 5}]}
    assert "rating" not in actions_for("citizen", stored(**rated))
    pending = {"status": "answered", "answers": [{"index": 0}], "escalation_pending": True}
    assert "escalation_request" not in actions_for("citizen", stored(**pending))
    replied = {"status": "in_work", "channel": "social", "first_response": {"text": "Мы разбираемся"}}
    assert "first_response" not in actions_for("operator", stored(**replied))


def test_numbers_are_human_friendly() -> None:
    assert appeal_number(2026, 123) == "2026-000123"


def test_one_post_one_key() -> None:
    a = canonical_post_url("https://VK.com/wall-1_2/?utm_source=tg#reply")
    b = canonical_post_url("https://vk.com/wall-1_2")
    assert a == b == "https://vk.com/wall-1_2"
    assert canonical_post_url("https://vk.com/wall-1_3") != b


def test_summary_is_the_first_line_cut_on_a_word() -> None:
    assert summarize("Яма на дороге\nподробности") == "Яма на дороге"
    long = "слово " * 100
    cut = summarize(long)
    assert len(cut) <= 200
    assert cut.endswith("слово…")


def test_the_typed_appeal_reads_stored_documents_as_they_are() -> None:
    # As `store_new` writes it (no answers, ratings or rounds yet), plus fields it does not name.
    doc = {
        "_id": "a1",
        "number": "2026-000001",
        "status": "received",
        "organization": None,
        "escalation_level": 0,
        "version": 0,
        "timeline": [{"at": None, "actor": {"role": "citizen"}, "action": "submit", "status": "received"}],
        "contact": {"email": "x@example.org"},
    }
    appeal = Appeal.of(doc)
    assert (appeal.id, appeal.status, appeal.answers, appeal.rereview_round) == ("a1", S.RECEIVED, [], 0)
    assert appeal.timeline[0].action == "submit" and appeal.model_extra == {
        "contact": {"email": "x@example.org"}
    }
    routed = Appeal.of({**doc, "status": "routed", "organization": {"id": "org", "name": "Org"}})
    assert routed.organization is not None and routed.organization.id == "org"


def test_the_planners_do_not_import_the_writer() -> None:
    import ast
    from pathlib import Path

    tree = ast.parse((Path(__file__).parents[2] / "services/intake/steps.py").read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "services.intake.actions" not in imported and "services.intake.flows" not in imported
