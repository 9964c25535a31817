"""Routing's internal HTTP contract (`/internal/...` of services/routing/routes.py), shared with
the gateway's routing client and routes (services/intake/gateway/).

- `CatalogueEntity`: the kinds of catalogue entry in `/internal/catalogue/{entity}`.
- Moderation: `POST /internal/moderation/{appeal_id}` takes `ModerationDecisionIn`.
- Triage: `POST /internal/triage/{appeal_id}` takes `TriageDecisionIn`.
- Text moderation: `POST /internal/moderate-text` takes `TextModerationRequest` and answers
  `TextModerationResult` (the gateway asks it for every free-text opinion of a hearing).
- Assignments: `GET /internal/assignments/{appeal_id}` and both decisions answer an
  `AssignmentView` (routing's record of an appeal); `GET /internal/moderation` and
  `GET /internal/triage` an `AssignmentPage`.
- Clusters: `GET /internal/clusters` answers a `ClusterPage` (the gateway narrows each cluster's
  members for an operator, `ClusterView.other_members`).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from libs.common.contracts.polls import MAX_OPINION_CHARS
from libs.common.events import AppealRef, Location, OrganizationRef

ACTOR_HEADER = "X-Actor"  # who asked, for the catalogue's change log and the decisions' history


class CatalogueEntity(StrEnum):
    ORGANIZATIONS = "organizations"
    TOPICS = "topics"
    RULES = "rules"
    AREAS = "areas"
    PLACES = "places"  # the gazetteer: settlements and streets


class ModerationDecision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


class ModerationDecisionIn(BaseModel):
    """`{"decision": "approve"}` routes a held appeal; `{"decision": "reject", "reason_code": ...}`
    rejects it with the reason the citizen will read."""

    model_config = ConfigDict(extra="forbid")

    decision: ModerationDecision
    reason_code: str | None = None  # for reject: one of the moderation reason codes
    comment: str | None = Field(default=None, max_length=1000)


class TriagePlaceIn(BaseModel):
    """Where a post is about: a gazetteer place, or a point (with an optional address)."""

    model_config = ConfigDict(extra="forbid")

    place_id: str | None = Field(default=None, max_length=64)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    address: str | None = Field(default=None, max_length=500)


class TriageDecisionIn(BaseModel):
    """The control centre's one decision on an appeal in its queue. For an appeal nobody would
    take: `organization_id`. For an unclassified post: `topic` and `place` (then it is routed), or
    `dismiss: true` (rejected as not an appeal)."""

    model_config = ConfigDict(extra="forbid")

    organization_id: str | None = Field(default=None, min_length=1, max_length=128)
    topic: str | None = Field(default=None, min_length=1, max_length=100)
    place: TriagePlaceIn | None = None
    dismiss: bool = False
    comment: str | None = Field(default=None, max_length=1000)


class ModerationVerdict(StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"
    REVIEW = "review"


class TextModerationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(max_length=MAX_OPINION_CHARS)


class TextModerationResult(BaseModel):
    verdict: ModerationVerdict
    reason_code: str | None = None
    reason: str | None = None  # what the author reads


class AssignmentStatus(StrEnum):
    """Where an appeal stands in routing (docs/routing.md, the assignment's lifecycle)."""

    ROUTED = "routed"
    REJECTED = "rejected"
    HELD = "held"  # waiting for a moderator
    # The regional control centre decides: every candidate refused ("not ours"), or a social-media
    # post that could not be classified (an uncertain topic, no concrete place: docs/routing.md).
    NEEDS_TRIAGE = "needs_triage"


class TriageKind(StrEnum):
    EXHAUSTED = "exhausted"  # every candidate refused: the centre names the organisation
    CLASSIFICATION = "classification"  # a raw post: the centre sets topic and place, or dismisses it


class AppealText(BaseModel):
    """The appeal's words, kept while a person (moderator, control centre) has to read them."""

    summary: str | None = None
    description: str = ""


class ModerationRecord(BaseModel):
    """The automatic moderation's verdict (`accept`, `reject`, `review`) and a moderator's decision."""

    verdict: str
    code: str | None = None  # the reason code of a rejection
    rule: str | None = None  # which check decided
    at: datetime | None = None
    decided_by: str | None = None  # the moderator, once one decided a held appeal
    decision: str | None = None  # `approve` or `reject`


class ProposedPlace(BaseModel):
    """Where the classifier placed a raw post (degrees WGS 84), and how it found it."""

    place_id: str | None = None
    address: str | None = None
    lat: float | None = None
    lon: float | None = None
    area_id: str | None = None
    located_by: str = "none"  # geotag | gazetteer:street | gazetteer:settlement | none
    concrete: bool = False


class ClassificationRecord(BaseModel):
    """The classifier's proposal for a raw social-media post (topic by score, place) and why."""

    topic: str | None = None
    score: int = 0  # the proposed topic's keyword score
    runner_up: int = 0  # the next topic's score
    matched: list[str] = Field(default_factory=list)  # the keywords found
    place: ProposedPlace = Field(default_factory=ProposedPlace)
    confident: bool = False
    why: str = ""
    at: datetime | None = None


class Rejection(BaseModel):
    code: str
    reason: str  # what the citizen reads


class HistoryEntry(BaseModel):
    """One step of the appeal's way through routing: decided, held, moved, triaged, rejected."""

    at: datetime
    action: str  # initial, reassignment, escalation, triage, held, rejected, ...
    actor: str  # routing, moderation, classification, moderator:<id>, control-centre:<id>, ...
    organization_id: str | None = None
    previous_organization_id: str | None = None
    rule: str | None = None
    escalation_level: int | None = None
    catalogue_version: int | None = None
    event_id: str | None = None  # the event that announced it
    note: str | None = None
    comment: str | None = None  # a person's words with the decision
    area_id: str | None = None
    located_by: str | None = None
    candidates: list[str] = Field(default_factory=list)  # organisations, best first (first routing)


class AssignmentView(BaseModel):
    """Routing's record of one appeal as admins and the control centre read it. Not shown: the
    author and resident keys, the dedup fingerprint, the outbox and applied event ids."""

    appeal_id: str
    number: str
    topic: str | None = None  # None: a raw post not classified yet
    kind: str | None = None
    channel: str = "web"
    status: AssignmentStatus | None = None
    organization: OrganizationRef | None = None
    rule: str | None = None
    escalation_level: int = 0
    catalogue_version: int | None = None
    area_id: str | None = None
    located_by: str | None = None
    location: Location = Field(default_factory=Location)
    submitted_at: datetime | None = None
    decided_at: datetime | None = None
    answered_at: datetime | None = None
    moderation: ModerationRecord | None = None
    text: AppealText | None = None  # while held or in triage
    triage: TriageKind | None = None
    classification: ClassificationRecord | None = None
    rejection: Rejection | None = None
    refused: list[str] = Field(default_factory=list)  # organisations that said "not ours"
    repeat_of: AppealRef | None = None
    cluster_id: str | None = None
    history: list[HistoryEntry] = Field(default_factory=list)

    @classmethod
    def of(cls, doc: dict[str, Any]) -> AssignmentView:
        """The view of a stored assignment document (`_id` is the appeal id). Raises
        `pydantic.ValidationError` for a document that is not one."""
        return cls.model_validate({**doc, "appeal_id": doc["_id"]})


class AssignmentPage(BaseModel):
    items: list[AssignmentView]
    total: int

    @classmethod
    def of(cls, docs: list[dict[str, Any]], total: int) -> AssignmentPage:
        """A page of stored assignment documents (`AssignmentView.of` each). Raises
        `pydantic.ValidationError` for a document that is not one."""
        return cls(items=[AssignmentView.of(doc) for doc in docs], total=total)


class ClusterMember(BaseModel):
    appeal_id: str
    number: str
    organization_id: str | None = None
    submitted_at: datetime


class ClusterView(BaseModel):
    """Appeals of one topic close in place and time (likely one problem): `center` in degrees
    WGS 84 (`lat`, `lon`), `size` all its appeals. `other_members`: set only in an operator's view,
    the appeals of other organisations, whose numbers are not theirs to see (not in `members`)."""

    id: str
    topic: str
    area_id: str | None
    center: dict[str, float]
    size: int
    first_at: datetime
    last_at: datetime
    members: list[ClusterMember]
    other_members: int | None = None


class ClusterPage(BaseModel):
    items: list[ClusterView]
    total: int
