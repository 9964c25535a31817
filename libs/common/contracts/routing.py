"""Routing's internal HTTP contract (`/internal/...` of services/routing/routes.py), shared with
the gateway's routing client and routes (services/intake/gateway/).

- `CatalogueEntity`: the kinds of catalogue entry in `/internal/catalogue/{entity}`.
- Moderation: `POST /internal/moderation/{appeal_id}` takes `ModerationDecisionIn`.
- Triage: `POST /internal/triage/{appeal_id}` takes `TriageDecisionIn`.
- Text moderation: `POST /internal/moderate-text` takes `TextModerationRequest` and answers
  `TextModerationResult` (the gateway asks it for every free-text opinion of a hearing).
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from libs.common.contracts.polls import MAX_OPINION_CHARS

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
