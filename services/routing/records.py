"""The assignment record: its collection, its lifecycle, and its state changes built together
with the events announcing them. Pure, no I/O: the flows write each triple (fields, outbox event,
history entry) in one document update (`libs/common/aggregate.py`)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from libs.common.events import (
    AppealRef,
    AppealRejectedV1,
    AppealRoutedV1,
    EventType,
    Location,
    OrganizationRef,
    RoutingReason,
)
from libs.common.outbox import outbox_entry
from libs.common.store import Document
from services.routing.moderation import REASONS, ReasonCode
from services.routing.schemas import AssignmentStatus, Organization
from services.routing.service import FALLBACK_SLA_DAYS, CompiledCatalogue

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


def apply(doc: Document, change: Decision) -> None:
    """Apply a change to a document not stored yet."""
    fields, event, entry = change
    doc.update(fields)
    doc["outbox"].append(event)
    doc["history"].append(entry)


def routed(
    doc: Document,
    cc: CompiledCatalogue,
    org: Organization,
    rule: str,
    level: int,
    reason: RoutingReason,
    previous: Document | None,
    now: datetime,
    actor: str,
    note: str | None = None,
    area_id: str | None = None,
) -> Decision:
    """The assignment's new state, its `appeal.routed` event and its history entry. `area_id`: the
    place's area when decided now (first routing); moves keep the one stored."""
    topic = cc.topics.get(doc["topic"])
    payload = AppealRoutedV1(
        appeal_id=doc["_id"],
        number=doc["number"],
        topic=doc["topic"],
        organization=OrganizationRef(id=org.id, name=org.name),
        rule=rule,
        answer_sla_days=topic.answer_sla_days if topic else FALLBACK_SLA_DAYS,
        first_response_sla_hours=topic.first_response_sla_hours
        if topic and doc.get("channel") == "social"
        else None,
        answer_sla_minutes=topic.answer_sla_minutes if topic else None,
        timezone=cc.timezone_of(org),
        channel=doc.get("channel", "web"),
        routed_at=now,
        reason=reason,
        escalation_level=level,
        previous_organization=OrganizationRef.model_validate(previous) if previous else None,
        area_id=area_id if area_id is not None else doc.get("area_id"),
        location=Location.model_validate(doc["location"]) if doc.get("classification") else None,
        repeat_of=AppealRef.model_validate(doc["repeat_of"]) if doc.get("repeat_of") else None,
    )
    event = outbox_entry(
        EventType.APPEAL_ROUTED,
        payload,
        source="routing",
        subject=doc["_id"],
        correlation_id=doc.get("correlation_id") or doc["_id"],
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
        "previous_organization_id": previous["id"] if previous else None,
        "rule": rule,
        "escalation_level": level,
        "catalogue_version": cc.version,
        "event_id": event["id"],
        "note": note,
    }
    return fields, event, entry


def rejected(doc: Document, code: ReasonCode, reason: str | None, now: datetime, actor: str) -> Decision:
    text = reason or REASONS[code].format(number="—")
    rejected = AppealRejectedV1(
        appeal_id=doc["_id"], number=doc["number"], reason_code=code, reason=text, rejected_at=now
    )
    event = outbox_entry(
        EventType.APPEAL_REJECTED,
        rejected,
        source="routing",
        subject=doc["_id"],
        correlation_id=doc.get("correlation_id") or doc["_id"],
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
