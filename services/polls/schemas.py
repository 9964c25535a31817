"""The polls' stored documents (a poll, a ballot) and the lifecycle's actions.

The HTTP models are the internal contract in `libs/common/contracts/polls.py`, shared with the gateway.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from libs.common.contracts.polls import (
    AnswerIn,
    BallotView,
    OptionView,
    PollKind,
    PollResults,
    PollStatus,
    PollView,
    QuestionKind,
    QuestionView,
)

__all__ = ["Action", "Ballot", "Option", "Poll", "PollStatus", "Question"]


class Action(StrEnum):
    """What may happen to a poll; `service.TRANSITIONS` says where each leads."""

    EDIT = "edit"
    PUBLISH = "publish"
    CANCEL = "cancel"
    CLOSE = "close"


class Stored(BaseModel):
    model_config = ConfigDict(use_enum_values=True, extra="ignore")


class Option(Stored):
    id: str
    text: str


class Question(Stored):
    id: str
    text: str
    kind: QuestionKind
    options: list[Option] = []
    max_choices: int | None = None


class Poll(Stored):
    """One poll or hearing (`_id` = id). Questions never change once published."""

    id: str
    kind: PollKind
    title: str
    description: str = ""
    questions: list[Question]
    area_ids: list[str]
    organization_id: str
    opens_at: datetime | None = None
    closes_at: datetime
    results_while_open: bool = False
    revote_allowed: bool = False
    status: PollStatus = PollStatus.DRAFT
    created_by: str
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None = None
    closed_at: datetime | None = None
    cancelled_at: datetime | None = None
    results: PollResults | None = None  # final, set when it closes
    correlation_id: str = ""

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> Poll:
        """The poll from its stored document (`_id` as `id`)."""
        return cls.model_validate({**doc, "id": doc["_id"]})

    def to_document(self) -> dict[str, Any]:
        """The stored document (`id` as `_id`)."""
        doc = self.model_dump(exclude={"id"})
        doc["_id"] = self.id
        if self.results is not None:
            doc["results"] = self.results.model_dump(mode="python")
        return doc

    def view(self) -> PollView:
        """What the API shows of a poll: without results, author, correlation id or `updated_at`."""
        questions = [
            QuestionView(
                id=q.id,
                text=q.text,
                kind=q.kind,
                options=[OptionView(id=o.id, text=o.text) for o in q.options],
                max_choices=q.max_choices,
            )
            for q in self.questions
        ]
        data = self.model_dump(exclude={"questions", "results", "created_by", "correlation_id", "updated_at"})
        return PollView(**data, questions=questions)


class Ballot(Stored):
    """One voter's ballot in one poll: unique on (poll_id, voter_id). `voter_id` is unlinked
    (replaced by `unlinked:<ballot id>`) once the poll closes."""

    id: str
    poll_id: str
    voter_id: str
    answers: list[AnswerIn]
    cast_at: datetime
    revisions: int = 0
    linked: bool = True

    def view(self) -> BallotView:
        """What the voter is shown of their ballot (never the voter id)."""
        return BallotView(
            poll_id=self.poll_id, answers=self.answers, cast_at=self.cast_at, revisions=self.revisions
        )
