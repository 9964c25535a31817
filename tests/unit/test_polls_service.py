"""The polls' pure domain: the one transition table, ballots' shape, tallies and visibility."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from libs.common.contracts.polls import (
    AnswerIn,
    BallotIn,
    PollCreate,
    PollDraftIn,
    PollStatus,
    QuestionKind,
    VoteOutcome,
)
from services.polls import service
from services.polls.schemas import Action, Poll
from services.polls.service import TRANSITIONS, InvalidBallot, Refused, Viewer

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def create(**changes: object) -> PollCreate:
    data: dict[str, object] = {
        "title": "Где поставить новую детскую площадку?",
        "questions": [
            {"text": "Место", "kind": "single", "options": ["Парк", "Набережная", "Школа"]},
            {
                "text": "Что нужно",
                "kind": "multiple",
                "options": ["Качели", "Горка", "Скамейки"],
                "max_choices": 2,
            },
            {"text": "Ваше мнение", "kind": "opinion"},
        ],
        "area_ids": ["demograd"],
        "closes_at": T0 + timedelta(days=7),
        "organization_id": "demograd-admin",
        "created_by": "op-1",
    }
    data.update(changes)
    return PollCreate.model_validate(data)


def draft_poll(**changes: object) -> Poll:
    return service.new_poll("p1", create(**changes), T0)


def published(**changes: object) -> Poll:
    poll, _ = service.publish(draft_poll(**changes), T0)
    return poll


def test_the_transition_table_is_the_whole_lifecycle() -> None:
    S, A = PollStatus, Action
    assert TRANSITIONS == {
        (S.DRAFT, A.EDIT): S.DRAFT,
        (S.DRAFT, A.PUBLISH): S.PUBLISHED,
        (S.DRAFT, A.CANCEL): S.CANCELLED,
        (S.PUBLISHED, A.CANCEL): S.CANCELLED,
        (S.PUBLISHED, A.CLOSE): S.CLOSED,
    }
    for status in PollStatus:
        for action in Action:
            if (status, action) in TRANSITIONS:
                assert service.next_status(status, action) == TRANSITIONS[(status, action)]
            else:
                with pytest.raises(Refused) as refused:
                    service.next_status(status, action)
                assert refused.value.status == 409


def test_a_published_polls_questions_cannot_change() -> None:
    poll = published()
    draft = PollDraftIn.model_validate({**create().model_dump(exclude={"created_by"}), "title": "другое"})
    with pytest.raises(Refused, match="cannot be edited"):
        service.edit(poll, draft, T0)
    edited = service.edit(draft_poll(), draft, T0)
    assert edited.title == "другое"


def test_publishing_announces_and_opens_now_by_default() -> None:
    poll, event = service.publish(draft_poll(), T0)
    assert poll.status == PollStatus.PUBLISHED
    assert poll.opens_at == T0 == event.opens_at
    assert event.area_ids == ["demograd"]
    with pytest.raises(Refused, match="closes_at has passed"):
        service.publish(draft_poll(closes_at=T0 - timedelta(seconds=1)), T0)


def test_draft_validation_refuses_bad_shapes() -> None:
    with pytest.raises(ValidationError, match="at least two options"):
        create(questions=[{"text": "?", "kind": "single", "options": ["один"]}])
    with pytest.raises(ValidationError, match="no options"):
        create(questions=[{"text": "?", "kind": "opinion", "options": ["a", "b"]}])
    with pytest.raises(ValidationError, match="earlier than closes_at"):
        create(opens_at=T0 + timedelta(days=8))
    with pytest.raises(ValidationError, match="UTC offset"):
        create(closes_at=datetime(2026, 12, 9))
    with pytest.raises(ValidationError):
        create(area_ids=["Bad Area!"])


def ballot(*answers: dict[str, object]) -> BallotIn:
    return BallotIn.model_validate({"answers": list(answers)})


def test_ballots_are_normalised_and_checked_against_the_questions() -> None:
    poll = published()
    answers = service.check_ballot(
        poll,
        ballot(
            {"question_id": "q2", "option_ids": ["o3", "o1"]},
            {"question_id": "q1", "option_ids": ["o2"]},
            {"question_id": "q3", "text": "  Нужна тень  "},
        ),
    )
    assert [a.question_id for a in answers] == ["q1", "q2", "q3"]
    assert answers[1].option_ids == ["o1", "o3"]
    assert answers[2].text == "Нужна тень"
    bad = [
        ({"question_id": "q9", "option_ids": ["o1"]}, "unknown_question"),
        ({"question_id": "q1", "option_ids": ["o9"]}, "unknown_option"),
        ({"question_id": "q1", "option_ids": ["o1", "o2"]}, "wrong_answer"),
        ({"question_id": "q2", "option_ids": ["o1", "o2", "o3"]}, "wrong_answer"),  # max_choices 2
        ({"question_id": "q1", "option_ids": []}, "wrong_answer"),
        ({"question_id": "q1", "option_ids": ["o1", "o1"]}, "wrong_answer"),
        ({"question_id": "q1", "text": "Парк"}, "wrong_answer"),
        ({"question_id": "q3", "option_ids": ["o1"]}, "wrong_answer"),
        ({"question_id": "q3", "text": "   "}, "wrong_answer"),
    ]
    for answer, reason in bad:
        with pytest.raises(InvalidBallot) as refused:
            service.check_ballot(poll, ballot(answer))
        assert (refused.value.reason, refused.value.status) == (reason, 422), answer
    with pytest.raises(InvalidBallot, match="answered twice"):
        service.check_ballot(
            poll,
            ballot({"question_id": "q1", "option_ids": ["o1"]}, {"question_id": "q1", "option_ids": ["o2"]}),
        )


def test_voting_window_is_opens_at_inclusive_to_closes_at_exclusive() -> None:
    poll = published(opens_at=T0 + timedelta(hours=1))
    with pytest.raises(Refused, match="not open yet"):
        service.ensure_open(poll, T0)
    service.ensure_open(poll, T0 + timedelta(hours=1))
    service.ensure_open(poll, poll.closes_at - timedelta(milliseconds=1))
    with pytest.raises(Refused, match="has closed"):
        service.ensure_open(poll, poll.closes_at)
    with pytest.raises(Refused, match="draft"):
        service.ensure_open(draft_poll(), T0)


def test_one_ballot_per_voter_and_revotes_only_if_allowed() -> None:
    first = [AnswerIn(question_id="q1", option_ids=["o1"])]
    other = [AnswerIn(question_id="q1", option_ids=["o2"])]
    strict = published()
    assert service.vote_outcome(strict, None, first) is VoteOutcome.CAST
    assert service.vote_outcome(strict, first, first) is VoteOutcome.UNCHANGED  # a retry
    with pytest.raises(Refused) as refused:
        service.vote_outcome(strict, first, other)
    assert refused.value.reason == "already_voted"
    assert service.vote_outcome(published(revote_allowed=True), first, other) is VoteOutcome.REPLACED


def test_tally_counts_and_percentages_per_option() -> None:
    poll = published()
    ballots = [
        [AnswerIn(question_id="q1", option_ids=["o1"]), AnswerIn(question_id="q2", option_ids=["o1", "o2"])],
        [AnswerIn(question_id="q1", option_ids=["o1"]), AnswerIn(question_id="q3", text="тень")],
        [AnswerIn(question_id="q1", option_ids=["o3"]), AnswerIn(question_id="q2", option_ids=["o2"])],
    ]
    results = service.tally(poll, ballots, T0)
    assert results.ballots == 3 and not results.final
    q1, q2, q3 = results.questions
    assert [(o.option_id, o.count, o.percent) for o in q1.options] == [
        ("o1", 2, 66.7),
        ("o2", 0, 0.0),
        ("o3", 1, 33.3),
    ]
    assert q2.answered == 2
    assert [(o.count, o.percent) for o in q2.options] == [(1, 50.0), (2, 100.0), (0, 0.0)]
    assert (q3.kind, q3.answered, q3.opinions, q3.options) == (QuestionKind.OPINION, 1, 1, [])
    empty = service.tally(poll, [], T0)
    assert empty.ballots == 0 and all(o.percent == 0.0 for o in empty.questions[0].options)


def test_closing_freezes_final_results_into_the_event() -> None:
    poll = published()
    closed, event = service.close(poll, [[AnswerIn(question_id="q1", option_ids=["o2"])]], poll.closes_at)
    assert closed.status == PollStatus.CLOSED and closed.results is not None and closed.results.final
    assert event.results == closed.results
    assert event.results.questions[0].options[1].count == 1
    with pytest.raises(Refused):
        service.close(closed, [], poll.closes_at)


def test_who_sees_results() -> None:
    public, org = Viewer(), Viewer(organization=True)
    assert not service.results_visible(published(), public)
    assert service.results_visible(published(), org)
    assert service.results_visible(published(results_while_open=True), public)
    closed, _ = service.close(published(), [], T0 + timedelta(days=7))
    assert service.results_visible(closed, public)
    assert not service.results_visible(draft_poll(), org)
