"""The stored appeal as the domain reads it: intake's one record kind, typed. Pure, no I/O.

The document shape is intake's appeal document as stored (`flows.AppealFlows.store_new` writes
it, `actions.AppealWriter` changes it): this model reads it, never rewrites it, so documents
stored before it existed load unchanged. It names the fields the lifecycle's decisions read;
every other stored field stays available (`extra="allow"`), and writes still name stored fields
(`steps.Step.changes`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from libs.common.events import OrganizationRef, SourcePost
from libs.common.store import Document
from services.intake.schemas import AppealStatus

APPEALS = "appeals"  # the one place that names the collection
SYSTEM = "system"  # the timeline's actor role for other services' decisions


class _Stored(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class StoredAnswer(_Stored):
    index: int = 0
    text: str = ""
    at: datetime | None = None
    round: int = 0


class StoredRating(_Stored):
    answer_index: int
    score: int
    round: int = 0


class StoredEntry(_Stored):
    """One timeline entry (`service.timeline_entry` writes it)."""

    action: str
    status: str | None = None
    comment: str | None = None


class Appeal(_Stored):
    """An appeal record: `_id` is `id`; counts and flags default as a fresh appeal's."""

    id: str = Field(alias="_id")
    number: str
    status: AppealStatus
    channel: str | None = None
    topic: str | None = None
    author_id: str | None = None
    organization: OrganizationRef | None = None
    public: bool = False
    source_post: SourcePost | None = None
    first_response: dict[str, Any] | None = None
    answers: list[StoredAnswer] = Field(default_factory=list)
    ratings: list[StoredRating] = Field(default_factory=list)
    timeline: list[StoredEntry] = Field(default_factory=list)
    rereview_round: int = 0
    escalation_level: int = 0
    escalation_pending: bool = False
    overdue: bool = False
    version: int | None = None

    @classmethod
    def of(cls, doc: Document) -> Appeal:
        """The typed view of a stored appeal document. Raises `pydantic.ValidationError` for a
        document that is not an appeal (no `_id`, `number` or known `status`)."""
        return cls.model_validate(doc)
