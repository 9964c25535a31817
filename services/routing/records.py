"""The assignment record: its collection, its lifecycle, and its state changes built together
with the events announcing them. Pure, no I/O: the flows write each triple (fields, outbox event,
history entry) in one document update (`libs/common/aggregate.py`)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from libs.common.clock import answer_due_at
from libs.common.contracts.routing import AssignmentStatus, TriageKind
from libs.common.events import (
    AppealRef,
    AppealRejectedV1,
    AppealRoutedV1,
    AppealSubmittedV1,
    EventType,
    Location,
    OrganizationRef,
    RoutingReason,
)
from libs.common.outbox import outbox_entry
from libs.common.store import Document
from services.routing.moderation import REASONS, ReasonCode
from services.routing.schemas import Organization
from services.routing.service import FALLBACK_SLA_DAYS, CompiledCatalogue, Place

ASSIGNMENTS = "assignments"  # the one place that names the collection


class AssignmentStep(StrEnum):
    """What changes an assignment's status (docs/routing.md)."""

    DECIDE = "decide"  # moderation, then routing, of a submitted appeal: the record is created
    MODERATE = "moderate"  # a moderator's decision on a held appeal
    MOVE = "move"  # "not ours" or an escalation
    TRIAGE = "triage"  # the regional control centre's decision


_S = AssignmentStatus
# The assignment's lifecycle, the one table: each step's status before (None: no record yet) and
# the statuses it may leave. `rejected` is final; a move of an appeal in another status is
# recorded as applied and ignored, a moderator's or the centre's decision is refused (409).
TRANSITIONS: dict[AssignmentStep, tuple[AssignmentStatus | None, frozenset[AssignmentStatus]]] = {
    AssignmentStep.DECIDE: (None, frozenset({_S.ROUTED, _S.REJECTED, _S.HELD, _S.NEEDS_TRIAGE})),
    AssignmentStep.MODERATE: (_S.HELD, frozenset({_S.ROUTED, _S.REJECTED, _S.NEEDS_TRIAGE})),
    AssignmentStep.MOVE: (_S.ROUTED, frozenset({_S.ROUTED, _S.NEEDS_TRIAGE})),
    AssignmentStep.TRIAGE: (_S.NEEDS_TRIAGE, frozenset({_S.ROUTED, _S.REJECTED})),
}


def starts_from(step: AssignmentStep) -> AssignmentStatus | None:
    """The status an assignment must have for `step` (`TRANSITIONS`)."""
    return TRANSITIONS[step][0]


def check_step(step: AssignmentStep, fields: Document) -> Document:
    """`fields` (a decision's fields to set) unchanged, after checking that the status they set
    is one `step` may lead to. Raises `ValueError` otherwise (a programming error: the table
    and the decision disagree)."""
    status = fields.get("status")
    if status not in TRANSITIONS[step][1]:
        raise ValueError(f"assignment step {step} cannot lead to status {status!r}")
    return fields


Decision = tuple[Document, Document, Document]  # fields to set, outbox event, history entry


class Assignment(BaseModel):
    """The stored assignment as the decisions read it: a typed view of the `assignments`
    document (`flows.RoutingFlows._first_decision` writes it), never written back, so documents
    stored before it existed load unchanged; fields it does not name stay available
    (`extra="allow"`). `status` is None only while the first decision is being made."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    id: str = Field(alias="_id")
    number: str
    topic: str | None = None
    channel: str = "web"
    location: Location = Field(default_factory=Location)
    status: AssignmentStatus | None = None
    organization: OrganizationRef | None = None
    refused: list[str] = Field(default_factory=list)
    escalation_level: int = 0
    triage: TriageKind | None = None
    area_id: str | None = None
    classification: dict[str, Any] | None = None
    repeat_of: AppealRef | None = None
    correlation_id: str | None = None
    version: int | None = None

    @classmethod
    def of(cls, doc: Document) -> Assignment:
        """The typed view of a stored (or just decided) assignment document. Raises
        `pydantic.ValidationError` for a document that is not one."""
        return cls.model_validate(doc)

    @property
    def correlation(self) -> str:
        """The correlation id its events carry: the submission's, else the appeal id."""
        return self.correlation_id or self.id


def apply(doc: Document, change: Decision) -> None:
    """Apply a change to a document not stored yet."""
    fields, event, entry = change
    doc.update(fields)
    doc["outbox"].append(event)
    doc["history"].append(entry)


def routed(
    doc: Assignment,
    cc: CompiledCatalogue,
    org: Organization,
    rule: str,
    level: int,
    reason: RoutingReason,
    previous: OrganizationRef | None,
    now: datetime,
    actor: str,
    note: str | None = None,
    area_id: str | None = None,
) -> Decision:
    """The assignment's new state, its `appeal.routed` event and its history entry. `area_id`: the
    place's area when decided now (first routing); moves keep the one stored."""
    topic = cc.topics.get(doc.topic or "")
    sla_days = topic.answer_sla_days if topic else FALLBACK_SLA_DAYS
    sla_minutes = topic.answer_sla_minutes if topic else None
    timezone = cc.timezone_of(org)
    payload = AppealRoutedV1(
        appeal_id=doc.id,
        number=doc.number,
        topic=doc.topic,
        organization=OrganizationRef(id=org.id, name=org.name),
        rule=rule,
        answer_sla_days=sla_days,
        first_response_sla_hours=topic.first_response_sla_hours
        if topic and doc.channel == "social"
        else None,
        answer_sla_minutes=sla_minutes,
        timezone=timezone,
        channel=doc.channel,
        routed_at=now,
        reason=reason,
        escalation_level=level,
        previous_organization=previous,
        area_id=area_id if area_id is not None else doc.area_id,
        location=doc.location if doc.classification else None,
        repeat_of=doc.repeat_of,
        # The first routing (no organisation before) starts the answer deadline: announced now.
        answer_due_at=answer_due_at(now, sla_days, timezone, sla_minutes) if previous is None else None,
    )
    event = outbox_entry(
        EventType.APPEAL_ROUTED,
        payload,
        source="routing",
        subject=doc.id,
        correlation_id=doc.correlation,
    )
    fields = {
        "status": AssignmentStatus.ROUTED,
        "organization": {"id": org.id, "name": org.name},
        "rule": rule,
        "escalation_level": level,
        "catalogue_version": cc.version,
        "decided_at": now,
    }
    entry = {
        "at": now,
        "action": str(reason),
        "actor": actor,
        "organization_id": org.id,
        "previous_organization_id": previous.id if previous else None,
        "rule": rule,
        "escalation_level": level,
        "catalogue_version": cc.version,
        "event_id": event["id"],
        "note": note,
    }
    return fields, event, entry


def rejected(doc: Assignment, code: ReasonCode, reason: str | None, now: datetime, actor: str) -> Decision:
    """The fields, `appeal.rejected` outbox entry and history entry of a moderation rejection with
    `code` (its text from `REASONS` unless `reason` is given)."""
    text = reason or REASONS[code].format(number="—")
    rejected = AppealRejectedV1(
        appeal_id=doc.id, number=doc.number, reason_code=code, reason=text, rejected_at=now
    )
    event = outbox_entry(
        EventType.APPEAL_REJECTED,
        rejected,
        source="routing",
        subject=doc.id,
        correlation_id=doc.correlation,
    )
    fields = {
        "status": AssignmentStatus.REJECTED,
        "rejection": {"code": code, "reason": text},
        "decided_at": now,
    }
    entry = {
        "at": now,
        "action": "rejected",
        "actor": actor,
        "rule": f"moderation:{code}",
        "event_id": event["id"],
    }
    return fields, event, entry


# Fields of an assignment no view shows (the outbox, dedup keys, who the resident is).
HIDDEN = {"outbox": 0, "applied": 0, "fingerprint": 0, "author_id": 0, "resident": 0}


def place_of(doc: Assignment) -> Place:
    """The appeal's place as the routing rules take it (degrees WGS 84, address text)."""
    return Place(doc.location.lat, doc.location.lon, doc.location.address)


def resident_of(appeal: AppealSubmittedV1) -> str:
    """Who the resident is, for repeat appeals: a social post's author on that network (not the
    connector that reported it), else the appeal's author."""
    post = appeal.source_post
    return f"{post.network}:{post.author_handle.casefold()}" if post else appeal.author_id
