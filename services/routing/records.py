"""An assignment's state changes and the events announcing them, built together. Pure, no I/O:
the flows write each triple (fields, outbox event, history entry) in one document update."""

from __future__ import annotations

from datetime import datetime

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

Change = tuple[Document, Document, Document]  # fields to set, outbox event, history entry


def apply(doc: Document, change: Change) -> None:
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
) -> Change:
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


def rejected(doc: Document, code: ReasonCode, reason: str | None, now: datetime, actor: str) -> Change:
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
