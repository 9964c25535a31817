"""The gateway's HTTP models and the appeal's statuses."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, HttpUrl, model_validator

from libs.common.auth import OrgId, Role
from libs.common.events import Location
from libs.common.text import for_storage


def _as_stored(value: object) -> object:
    return for_storage(value) if isinstance(value, str) else value


# A citizen's or an operator's free text: kept as written, less the invisible characters that can
# only hide or reorder it (zero-width spaces, bidi controls, soft hyphens; docs/routing.md). Lengths
# count what is kept, so a text of nothing but such characters is refused as empty.
Text = Annotated[str, BeforeValidator(_as_stored)]
EmailAddressText = Annotated[str, Field(max_length=254, json_schema_extra={"format": "email"})]


class AppealStatus(StrEnum):
    RECEIVED = "received"
    REJECTED = "rejected"
    ROUTED = "routed"
    IN_WORK = "in_work"
    CLARIFICATION_REQUESTED = "clarification_requested"
    ANSWERED = "answered"
    REREVIEW = "rereview"
    CLOSED = "closed"
    # Every organisation it could go to said "not ours": the regional control centre decides who
    # answers. The answer deadline stays the one the citizen was given.
    NEEDS_TRIAGE = "needs_triage"


class AppealKind(StrEnum):
    COMPLAINT = "complaint"
    PROPOSAL = "proposal"
    GRATITUDE = "gratitude"
    QUESTION = "question"


class Channel(StrEnum):
    WEB = "web"
    MOBILE = "mobile"
    WIDGET = "widget"
    SOCIAL = "social"


class Contact(BaseModel):
    # Checked by the flow against libs.common.contacts (what notify can deliver); not EmailStr,
    # which would quietly turn "Name <a@b.org>" into "a@b.org" and let non-ASCII local parts in.
    email: EmailAddressText | None = None


class PlaceIn(Location):
    @model_validator(mode="after")
    def _point_or_address(self) -> PlaceIn:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("give both lat and lon, or neither")
        if self.lat is None and not self.address:
            raise ValueError("give a point (lat, lon) or an address")
        return self


class AppealCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: AppealKind
    topic: str = Field(min_length=1, max_length=100)
    summary: Text = Field(min_length=3, max_length=200)
    description: Text = Field(min_length=1, max_length=5000)
    location: PlaceIn
    media_ids: list[str] = Field(default_factory=list)
    contact: Contact = Field(default_factory=Contact)
    channel: Channel = Channel.WEB
    lang: str = Field(default="ru", pattern="^(ru|en)$")
    # The author allows publication (masked of personal data) on the public list and in Open311.
    public: bool = False

    @model_validator(mode="after")
    def _not_social(self) -> AppealCreate:
        # The door decides the social channel (POST /incidents), never the body: a citizen
        # claiming it would get a connector's webhooks and the hours-long first-response deadline.
        if self.channel is Channel.SOCIAL:
            raise ValueError("channel 'social' is set by monitoring connectors only (POST /incidents)")
        return self


class AppealCreated(BaseModel):
    id: str
    number: str
    status: AppealStatus


class Actor(BaseModel):
    """Who acted. Citizens see an operator's role and organisation, never their user id."""

    role: str
    id: str | None = None
    org_id: str | None = None
    org_name: str | None = None


class PublicationIn(BaseModel):
    """The author's choice: `true` publishes the appeal (masked), `false` makes it private again."""

    model_config = ConfigDict(extra="forbid")

    public: bool


class TimelineEntry(BaseModel):
    at: datetime
    actor: Actor
    action: str
    status: AppealStatus
    comment: str | None = None


class OrganizationView(BaseModel):
    id: str
    name: str


class AnswerView(BaseModel):
    index: int
    text: str
    media_ids: list[str] = []
    at: datetime
    round: int = 0


class RatingView(BaseModel):
    answer_index: int
    score: int
    at: datetime


class ClarificationView(BaseModel):
    question: str
    asked_at: datetime
    answered_at: datetime | None = None


class RejectionView(BaseModel):
    code: str
    reason: str


class FirstResponseView(BaseModel):
    text: str
    at: datetime
    operator_id: str | None = None


class RepeatOfView(BaseModel):
    appeal_id: str
    number: str


class FirstResponseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: Text = Field(min_length=1, max_length=2000)


class AppealView(BaseModel):
    id: str
    number: str
    kind: AppealKind
    channel: Channel
    topic: str
    summary: str
    description: str
    location: Location
    media_ids: list[str]
    status: AppealStatus
    organization: OrganizationView | None = None
    due_at: datetime | None = None
    overdue: bool = False
    overdue_at: datetime | None = None
    first_response_due_at: datetime | None = None
    first_response_overdue: bool = False
    first_response: FirstResponseView | None = None  # a social incident's first public reply
    repeat_of: RepeatOfView | None = None  # the answered appeal this one repeats
    escalation_level: int = 0
    escalation_pending: bool = False
    rating: int | None = None
    answers: list[AnswerView] = []
    ratings: list[RatingView] = []
    clarification: ClarificationView | None = None
    rejection: RejectionView | None = None
    created_at: datetime
    updated_at: datetime
    timeline: list[TimelineEntry]
    contact: Contact | None = None
    allowed_actions: list[str] = []
    public: bool = False  # the author allowed publication (docs/api.md#public-appeals)


class AppealSummary(BaseModel):
    id: str
    number: str
    kind: AppealKind
    topic: str
    summary: str
    status: AppealStatus
    organization: OrganizationView | None = None
    due_at: datetime | None = None
    overdue: bool = False
    created_at: datetime


class QueueFilter(BaseModel):
    status: AppealStatus | None = None
    topic: str | None = None
    overdue: bool | None = None
    due_within_days: int | None = Field(default=None, ge=0, le=365)


class AppealPage(BaseModel):
    items: list[AppealSummary]
    total: int
    limit: int
    offset: int


class DevTokenRequest(BaseModel):
    """The claims a dev token will carry, checked as the gateway will check them (`Principal`)."""

    sub: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")
    role: Role = Role.CITIZEN
    org_id: OrgId | None = None


class DevToken(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret


class MediaCreated(BaseModel):
    id: str
    content_type: str
    size: int


class CommentIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    text: Text = Field(min_length=1, max_length=5000)


class RatingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    score: int = Field(ge=1, le=5)


class ClarificationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    question: Text = Field(min_length=3, max_length=2000)


class AnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    text: Text = Field(min_length=3, max_length=10000)
    media_ids: list[str] = Field(default_factory=list, max_length=10)
    # The organisation publishes this answer with a public appeal (masked; docs/api.md).
    public: bool = False


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    reason: Text = Field(min_length=3, max_length=1000)


class ExtendIn(ReasonIn):
    days: int = Field(ge=1, le=30)


class IncidentIn(BaseModel):
    """A social-network post found by a monitoring connector («Инцидент Менеджмент»)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    network: str = Field(min_length=1, max_length=50, examples=["vk"])
    post_url: HttpUrl
    author_handle: Text = Field(min_length=1, max_length=200)
    text: Text = Field(min_length=1, max_length=5000)
    # Optional: without a topic (and place) the platform classifies the post (docs/routing.md); an
    # uncertain one waits for the regional control centre.
    topic: str | None = Field(default=None, min_length=1, max_length=100)
    location: Location | None = None
    found_at: datetime
