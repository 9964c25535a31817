"""The deadlines' record of an appeal (one stored document) and the statistics API models."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from libs.common.events import OrganizationRef, TimerKind


class TimerState(StrEnum):
    ARMED = "armed"  # running: fires at due_at
    PAUSED = "paused"  # the clock stopped (clarification): remaining_seconds kept
    DONE = "done"  # what it waited for happened (answer, first response)
    FIRED = "fired"  # it expired: overdue published / rating window ended
    CANCELLED = "cancelled"  # no longer relevant (closed, re-routed, re-review)


ACTIVE = (TimerState.ARMED, TimerState.PAUSED)


class Stored(BaseModel):
    model_config = ConfigDict(use_enum_values=True, extra="ignore")


class Timer(Stored):
    kind: TimerKind
    state: TimerState
    round: int = 0
    armed_at: datetime
    due_at: datetime | None = None  # None while paused
    remaining_seconds: float | None = None  # while paused
    paused_at: datetime | None = None
    last_resumed_at: datetime | None = None
    warnings: list[datetime] = []  # pending warning instants, earliest first
    extensions: int = 0  # accepted extensions of this deadline
    ended_at: datetime | None = None


class AnswerRecord(Stored):
    round: int
    at: datetime
    on_time: bool


class Assignment(Stored):
    """One organisation holding the appeal: the unit of the SLA statistics."""

    organization: OrganizationRef
    topic: str
    received_at: datetime
    area_id: str | None = None  # the municipality the place lies in (routing's area)
    channel: str = "web"
    first_response_sla_hours: int | None = None  # social incidents: the first-response deadline
    repeat: bool = False  # a repeat appeal: the same resident, topic and place after an answer
    first_response_at: datetime | None = None
    answered_at: datetime | None = None  # the first answer at this organisation
    answered_on_time: bool | None = None
    overdue_at: datetime | None = None  # the first missed answer deadline
    paused_seconds: float = 0.0  # waiting for the citizen's clarification before the first answer
    rereviews: int = 0
    ratings: list[int] = []
    answers: list[AnswerRecord] = []
    ended_at: datetime | None = None


class Extension(Stored):
    """Audit of an extension request, granted or refused."""

    at: datetime
    operator_id: str
    organization_id: str | None
    days: int
    reason: str
    round: int
    granted: bool
    note: str
    due_before: datetime | None = None
    due_after: datetime | None = None


class AppealClock(Stored):
    """Everything deadlines knows about one appeal; stored as one document (`_id` = appeal id)."""

    appeal_id: str
    number: str
    organization: OrganizationRef
    topic: str
    timezone: str = "UTC"
    channel: str = "web"
    answer_sla_days: int
    answer_sla_minutes: int | None = None
    first_response_sla_hours: int | None = None
    escalation_level: int = 0
    correlation_id: str
    closed_at: datetime | None = None
    timers: dict[str, Timer] = {}
    assignments: list[Assignment] = []
    extensions: list[Extension] = []

    def timer(self, kind: TimerKind) -> Timer | None:
        """The timer of this kind, None if the appeal has none."""
        return self.timers.get(str(kind))

    @property
    def current(self) -> Assignment:
        """The latest assignment (the organisation answering now)."""
        return self.assignments[-1]

    def to_document(self) -> dict[str, Any]:
        """The record as stored (datetimes kept as datetimes)."""
        return self.model_dump(mode="python")


# -- statistics API -------------------------------------------------------------------------


class Percentiles(BaseModel):
    count: int = Field(description="how many values")
    median: float | None = None
    p90: float | None = None


class StatsRow(BaseModel):
    received: int = Field(description="appeals that reached the organisation in the period")
    answered: int = Field(description="of those, answered (first answer at the organisation)")
    answered_pct: float | None = None
    answered_on_time: int = Field(description="first answer no later than the answer deadline")
    answered_on_time_pct: float | None = Field(default=None, description="of the answered")
    overdue: int = Field(description="answer deadline missed at least once")
    first_response_hours: Percentiles
    answer_hours: Percentiles = Field(description="working time: clarification pauses excluded")
    rereview_pct: float | None = Field(default=None, description="share of answered sent to re-review")
    rated: int
    average_rating: float | None = None


class OrganizationStats(StatsRow):
    organization: OrganizationRef


class TopicStats(StatsRow):
    topic: str


class Period(BaseModel):
    from_: datetime = Field(alias="from")
    to: datetime

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class OrganizationTable(BaseModel):
    period: Period
    items: list[OrganizationStats]


class TopicTable(BaseModel):
    period: Period
    items: list[TopicStats]


class PublicRank(BaseModel):
    rank: int
    organization: OrganizationRef
    received: int
    answered_pct: float | None
    answered_on_time_pct: float | None
    median_answer_hours: float | None
    median_first_response_hours: float | None
    average_rating: float | None


class PublicRanking(BaseModel):
    period: Period
    order_by: str
    min_received: int
    items: list[PublicRank]


# -- the regional control centre's figures of social-media incidents (docs/deadlines.md) --------


class CentreRow(BaseModel):
    rank: int = Field(description="1 = best: by score, then mean first response, then id")
    organization: OrganizationRef | None = None  # by=organization
    area_id: str | None = None  # by=area (null: posts without a municipality)
    posts: int = Field(description="social-media incidents that reached it in the month")
    responded_on_time: int = Field(description="first public reply within the topic's SLA hours")
    responded_on_time_pct: float | None = Field(default=None, description="% of posts")
    first_response_mean_hours: float | None = None
    first_response_median_hours: float | None = None
    answered: int
    answered_pct: float | None = Field(default=None, description="% of posts")
    repeats: int = Field(description="posts that repeat an answered one (counted against it)")
    score_pct: float | None = Field(
        default=None, description="(responded on time - repeats) / posts, in %: the ranking's key"
    )


class CentreTable(BaseModel):
    month: str
    by: str
    period: Period
    min_posts: int = Field(description="smallest row ranked (public table); 1 for the centre's own")
    items: list[CentreRow]
