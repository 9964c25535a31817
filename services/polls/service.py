"""A poll's lifecycle, ballots and tallies: pure domain logic, no I/O.

One transition table decides every change of status (`TRANSITIONS`):
draft → published → closed; draft or published → cancelled; a draft may be edited.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from libs.common.contracts.polls import (
    AnswerIn,
    BallotIn,
    OptionResult,
    PollCreate,
    PollDraftIn,
    PollResults,
    PollStatus,
    QuestionIn,
    QuestionKind,
    QuestionResult,
    VoteOutcome,
)
from libs.common.poll_events import PollCancelledV1, PollClosedV1, PollPublishedV1
from services.polls.schemas import Action, Option, Poll, Question

S, A = PollStatus, Action
TRANSITIONS: dict[tuple[PollStatus, Action], PollStatus] = {
    (S.DRAFT, A.EDIT): S.DRAFT,
    (S.DRAFT, A.PUBLISH): S.PUBLISHED,
    (S.DRAFT, A.CANCEL): S.CANCELLED,
    (S.PUBLISHED, A.CANCEL): S.CANCELLED,
    (S.PUBLISHED, A.CLOSE): S.CLOSED,
}


class Refused(Exception):
    """A request the poll's state does not allow (HTTP 409) or that is malformed (422)."""

    status = 409

    def __init__(self, detail: str, reason: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.reason = reason


class InvalidBallot(Refused):
    status = 422


def next_status(status: PollStatus | str, action: Action) -> PollStatus:
    """Where `action` leads from `status`; raises `Refused` (reason `not_allowed`) if nowhere."""
    target = TRANSITIONS.get((PollStatus(status), action))
    if target is None:
        allowed = sorted(str(a) for (s, a) in TRANSITIONS if s == status)
        raise Refused(
            f"a {status} poll cannot be {_PAST[action]} (allowed: {', '.join(allowed) or 'nothing'})",
            "not_allowed",
        )
    return target


_PAST = {A.EDIT: "edited", A.PUBLISH: "published", A.CANCEL: "cancelled", A.CLOSE: "closed"}


# -- drafting ----------------------------------------------------------------------------------


def questions_of(questions: list[QuestionIn]) -> list[Question]:
    """Stable ids: `q1`, `q2`… and per question `o1`, `o2`… in the order written."""
    return [
        Question(
            id=f"q{i}",
            text=q.text,
            kind=q.kind,
            options=[Option(id=f"o{j}", text=text) for j, text in enumerate(q.options, 1)],
            max_choices=q.max_choices if q.kind is QuestionKind.MULTIPLE else None,
        )
        for i, q in enumerate(questions, 1)
    ]


def new_poll(poll_id: str, create: PollCreate, now: datetime, correlation_id: str = "") -> Poll:
    """A draft poll from the request, its questions and options given ids."""
    return Poll(
        id=poll_id,
        kind=create.kind,
        title=create.title,
        description=create.description,
        questions=questions_of(create.questions),
        area_ids=create.area_ids,
        organization_id=create.organization_id,
        opens_at=create.opens_at,
        closes_at=create.closes_at,
        results_while_open=create.results_while_open,
        revote_allowed=create.revote_allowed,
        created_by=create.created_by,
        created_at=now,
        updated_at=now,
        correlation_id=correlation_id,
    )


def edit(poll: Poll, draft: PollDraftIn, now: datetime) -> Poll:
    """Replace a draft's content; raises `Refused` once published (questions are frozen)."""
    next_status(poll.status, Action.EDIT)
    return poll.model_copy(
        update={
            "kind": draft.kind,
            "title": draft.title,
            "description": draft.description,
            "questions": questions_of(draft.questions),
            "area_ids": draft.area_ids,
            "opens_at": draft.opens_at,
            "closes_at": draft.closes_at,
            "results_while_open": draft.results_while_open,
            "revote_allowed": draft.revote_allowed,
            "updated_at": now,
        }
    )


def facts(poll: Poll) -> dict[str, Any]:
    """The fields of `PollFacts` every poll event carries."""
    return {
        "poll_id": poll.id,
        "kind": poll.kind,
        "title": poll.title,
        "organization_id": poll.organization_id,
        "area_ids": poll.area_ids,
    }


def publish(poll: Poll, now: datetime) -> tuple[Poll, PollPublishedV1]:
    """Publish a draft: it opens at `opens_at` (default now). Refused if it would close in the past.

    Raises Refused (409) `not_allowed` unless the poll is a draft, `closes_in_the_past` when
    `closes_at` is not after `now`."""
    status = next_status(poll.status, Action.PUBLISH)
    if poll.closes_at <= now:
        raise Refused("closes_at has passed: edit the draft first", "closes_in_the_past")
    opens_at = poll.opens_at or now
    published = poll.model_copy(
        update={"status": status, "published_at": now, "opens_at": opens_at, "updated_at": now}
    )
    event = PollPublishedV1(
        **facts(poll),
        opens_at=opens_at,
        closes_at=poll.closes_at,
        published_at=now,
    )
    return published, event


def cancel(poll: Poll, now: datetime) -> tuple[Poll, PollCancelledV1 | None]:
    """Cancel a draft or a published poll. A published one is announced (`poll.cancelled`: the
    residents told of it are told again); a draft was never announced, so it gets no event.
    Raises `Refused` (409 not_allowed) for a closed or already cancelled poll."""
    status = next_status(poll.status, Action.CANCEL)
    cancelled = poll.model_copy(update={"status": status, "cancelled_at": now, "updated_at": now})
    if poll.status != PollStatus.PUBLISHED:
        return cancelled, None
    event = PollCancelledV1(**facts(poll), closes_at=poll.closes_at, cancelled_at=now)
    return cancelled, event


def close(poll: Poll, ballots: Iterable[list[AnswerIn]], now: datetime) -> tuple[Poll, PollClosedV1]:
    """Close a published poll with its final tally (`ballots`: the answers of every ballot)."""
    status = next_status(poll.status, Action.CLOSE)
    results = tally(poll, ballots, now, status=status)
    closed = poll.model_copy(
        update={"status": status, "closed_at": now, "results": results, "updated_at": now}
    )
    event = PollClosedV1(
        **facts(poll),
        closes_at=poll.closes_at,
        closed_at=now,
        results=results,
    )
    return closed, event


# -- voting ------------------------------------------------------------------------------------


def ensure_open(poll: Poll, now: datetime) -> None:
    """Ballots are taken while published, from `opens_at` (inclusive) to `closes_at` (exclusive).

    Raises Refused (409) `not_open` (not published), `not_open_yet` or `closed`."""
    if poll.status != PollStatus.PUBLISHED:
        raise Refused(f"the poll is {poll.status}: it takes no ballots", "not_open")
    if poll.opens_at is not None and now < poll.opens_at:
        raise Refused("the poll is not open yet", "not_open_yet")
    if now >= poll.closes_at:
        raise Refused("the poll has closed", "closed")


def check_ballot(poll: Poll, ballot: BallotIn) -> list[AnswerIn]:
    """The ballot in its normal form (questions in the poll's order, option ids sorted, text
    stripped). Raises `InvalidBallot` for an unknown question or option, a question answered
    twice, a choice of the wrong size, or text where options belong (and the reverse).
    Questions may be left unanswered, but a ballot answers at least one."""
    by_id = {q.id: q for q in poll.questions}
    given: dict[str, AnswerIn] = {}
    for answer in ballot.answers:
        question = by_id.get(answer.question_id)
        if question is None:
            raise InvalidBallot(f"no question {answer.question_id} in this poll", "unknown_question")
        if answer.question_id in given:
            raise InvalidBallot(f"question {answer.question_id} is answered twice", "answered_twice")
        given[answer.question_id] = _answer(question, answer)
    return [given[q.id] for q in poll.questions if q.id in given]


def _answer(question: Question, answer: AnswerIn) -> AnswerIn:
    if question.kind == QuestionKind.OPINION:
        text = (answer.text or "").strip()
        if answer.option_ids or not text:
            raise InvalidBallot(
                f"question {question.id} takes an opinion (text), not options", "wrong_answer"
            )
        return AnswerIn(question_id=question.id, text=text)
    if answer.text is not None:
        raise InvalidBallot(f"question {question.id} takes options, not text", "wrong_answer")
    chosen = sorted(set(answer.option_ids))
    known = {o.id for o in question.options}
    if unknown := [o for o in chosen if o not in known]:
        raise InvalidBallot(f"no option {unknown[0]} in question {question.id}", "unknown_option")
    if len(chosen) != len(answer.option_ids):
        raise InvalidBallot(f"an option is chosen twice in question {question.id}", "wrong_answer")
    most = 1 if question.kind == QuestionKind.SINGLE else question.max_choices or len(known)
    if not 1 <= len(chosen) <= most:
        raise InvalidBallot(f"question {question.id} takes 1 to {most} options", "wrong_answer")
    return AnswerIn(question_id=question.id, option_ids=chosen)


def vote_outcome(poll: Poll, existing: list[AnswerIn] | None, answers: list[AnswerIn]) -> VoteOutcome:
    """What a ballot does given the voter's stored one: cast, replace, or nothing (a retry).
    Raises `Refused` (`already_voted`) for a different ballot when the poll forbids revoting."""
    if existing is None:
        return VoteOutcome.CAST
    if existing == answers:
        return VoteOutcome.UNCHANGED
    if not poll.revote_allowed:
        raise Refused(
            "you have voted in this poll already; it does not allow changing a vote", "already_voted"
        )
    return VoteOutcome.REPLACED


# -- results -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Viewer:
    """Who asks for results: the public, or the poll's own organisation (operators, admins)."""

    organization: bool = False


def results_visible(poll: Poll, viewer: Viewer) -> bool:
    """Closed: everyone. Published: everyone if `results_while_open`, else only its organisation.
    Drafts and cancelled polls have no results."""
    if poll.status == PollStatus.CLOSED:
        return True
    if poll.status == PollStatus.PUBLISHED:
        return poll.results_while_open or viewer.organization
    return False


def percent(part: int, whole: int) -> float:
    """`part` of `whole` in percent, one decimal; 0.0 when `whole` is 0."""
    return round(100.0 * part / whole, 1) if whole else 0.0


def tally(
    poll: Poll, ballots: Iterable[list[AnswerIn]], now: datetime, *, status: PollStatus | None = None
) -> PollResults:
    """Counts and percentages per option. A percentage is of the ballots answering that question
    (multiple choice: shares may add up to more than 100). Opinions are only counted here."""
    counts: dict[tuple[str, str], int] = {}
    answered: dict[str, int] = {}
    total = 0
    for answers in ballots:
        total += 1
        for answer in answers:
            answered[answer.question_id] = answered.get(answer.question_id, 0) + 1
            for option_id in answer.option_ids:
                key = (answer.question_id, option_id)
                counts[key] = counts.get(key, 0) + 1
    questions = []
    for q in poll.questions:
        n = answered.get(q.id, 0)
        options = [
            OptionResult(
                option_id=o.id, text=o.text, count=(c := counts.get((q.id, o.id), 0)), percent=percent(c, n)
            )
            for o in q.options
        ]
        opinions = n if q.kind == QuestionKind.OPINION else 0
        questions.append(
            QuestionResult(
                question_id=q.id, text=q.text, kind=q.kind, answered=n, options=options, opinions=opinions
            )
        )
    final_status = PollStatus(status or poll.status)
    return PollResults(
        poll_id=poll.id,
        status=final_status,
        final=final_status == PollStatus.CLOSED,
        ballots=total,
        questions=questions,
        computed_at=now,
    )
