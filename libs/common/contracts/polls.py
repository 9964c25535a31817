"""The polls service's internal HTTP contract: the gateway and polls import these same classes.

Limits are part of the contract (every write is bounded): at most `MAX_QUESTIONS` questions of at
most `MAX_OPTIONS` options, `MAX_AREAS` areas, opinions of at most `MAX_OPINION_CHARS` characters.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

MAX_QUESTIONS = 20
MAX_OPTIONS = 20
MAX_AREAS = 50
MAX_OPINION_CHARS = 2000
# An area id as routing's catalogue spells them ("demograd").
AreaId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
ItemId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class PollKind(StrEnum):
    POLL = "poll"  # a vote on options
    HEARING = "hearing"  # a public hearing: opinions (free text), possibly with votes too


class PollStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class QuestionKind(StrEnum):
    SINGLE = "single"  # exactly one option
    MULTIPLE = "multiple"  # one or more options (at most `max_choices` when set)
    OPINION = "opinion"  # free text, moderated like appeals


class QuestionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Text
    kind: QuestionKind
    options: list[Text] = Field(default_factory=list, max_length=MAX_OPTIONS)
    max_choices: int | None = Field(default=None, ge=1, le=MAX_OPTIONS)

    @model_validator(mode="after")
    def _options_fit_kind(self) -> QuestionIn:
        if self.kind is QuestionKind.OPINION:
            if self.options:
                raise ValueError("an opinion question has no options")
        elif len(self.options) < 2:
            raise ValueError("a choice question needs at least two options")
        elif len(set(self.options)) != len(self.options):
            raise ValueError("the options of a question must differ")
        return self


class PollDraftIn(BaseModel):
    """What an operator (or admin) writes; `organization_id` is the admin's choice only."""

    model_config = ConfigDict(extra="forbid")

    kind: PollKind = PollKind.POLL
    title: Text
    description: str = Field(default="", max_length=5000)
    questions: list[QuestionIn] = Field(min_length=1, max_length=MAX_QUESTIONS)
    area_ids: list[AreaId] = Field(min_length=1, max_length=MAX_AREAS)
    opens_at: datetime | None = None  # default: when published
    closes_at: datetime
    results_while_open: bool = False
    revote_allowed: bool = False
    organization_id: ItemId | None = None

    @model_validator(mode="after")
    def _times(self) -> PollDraftIn:
        for moment in (self.opens_at, self.closes_at):
            if moment is not None and moment.tzinfo is None:
                raise ValueError("times need a UTC offset, e.g. 2026-12-01T10:00:00Z")
        if self.opens_at is not None and self.opens_at >= self.closes_at:
            raise ValueError("opens_at must be earlier than closes_at")
        self.area_ids = sorted(set(self.area_ids))
        return self


class PollCreate(PollDraftIn):
    """Gateway → polls: the draft with the organisation and the author decided by the gateway."""

    organization_id: ItemId
    created_by: str = Field(min_length=1, max_length=256)


class OptionView(BaseModel):
    id: str
    text: str


class QuestionView(BaseModel):
    id: str
    text: str
    kind: QuestionKind
    options: list[OptionView] = []
    max_choices: int | None = None


class PollView(BaseModel):
    id: str
    kind: PollKind
    title: str
    description: str
    questions: list[QuestionView]
    area_ids: list[str]
    organization_id: str
    opens_at: datetime | None
    closes_at: datetime
    results_while_open: bool
    revote_allowed: bool
    status: PollStatus
    created_at: datetime
    published_at: datetime | None = None
    closed_at: datetime | None = None
    cancelled_at: datetime | None = None


class PollPage(BaseModel):
    items: list[PollView]
    total: int


class AnswerIn(BaseModel):
    """One question's answer: `option_ids` for a choice, `text` for an opinion."""

    model_config = ConfigDict(extra="forbid")

    question_id: ItemId
    option_ids: list[ItemId] = Field(default_factory=list, max_length=MAX_OPTIONS)
    text: str | None = Field(default=None, max_length=MAX_OPINION_CHARS)


class BallotIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answers: list[AnswerIn] = Field(min_length=1, max_length=MAX_QUESTIONS)


class BallotCast(BallotIn):
    """Gateway → polls: the ballot with the voter (the token's `sub`), after moderation."""

    voter_id: str = Field(min_length=1, max_length=256)


class BallotView(BaseModel):
    """The voter's own ballot: never shown to anyone else."""

    poll_id: str
    answers: list[AnswerIn]
    cast_at: datetime
    revisions: int = 0  # how many times it was replaced


class VoteOutcome(StrEnum):
    CAST = "cast"  # the first ballot
    REPLACED = "replaced"  # a revote replaced it
    UNCHANGED = "unchanged"  # the same ballot again (a retry): nothing changed


class VoteResult(BaseModel):
    outcome: VoteOutcome
    ballot: BallotView


class OptionResult(BaseModel):
    option_id: str
    text: str
    count: int
    percent: float  # of the ballots answering this question, 0–100, one decimal


class QuestionResult(BaseModel):
    question_id: str
    text: str
    kind: QuestionKind
    answered: int  # ballots answering this question
    options: list[OptionResult] = []
    opinions: int = 0  # opinions given (their texts: the organisation's `opinions` list)


class PollResults(BaseModel):
    """Aggregates only: never who voted how."""

    poll_id: str
    status: PollStatus
    final: bool  # true once the poll closed: these numbers never change again
    ballots: int
    questions: list[QuestionResult]
    computed_at: datetime


class OpinionPage(BaseModel):
    """Opinions given in a hearing, without their authors, newest first."""

    items: list[str]
    total: int
