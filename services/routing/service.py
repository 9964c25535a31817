"""Routing decisions: pure functions over the catalogue, no I/O."""

from __future__ import annotations

from dataclasses import dataclass

from services.routing.schemas import Catalogue, Organization, Topic

# Used when a topic is unknown to the catalogue (e.g. removed after the citizen chose it).
FALLBACK_SLA_DAYS = 30


@dataclass(frozen=True)
class Decision:
    organization: Organization
    rule: str
    answer_sla_days: int
    first_response_sla_hours: int | None
    timezone: str


def decide(catalogue: Catalogue, topic_code: str) -> Decision:
    organizations = {org.id: org for org in catalogue.organizations}
    topic: Topic | None = next((t for t in catalogue.topics if t.code == topic_code), None)
    if topic is not None and topic.responsible in organizations:
        return Decision(
            organization=organizations[topic.responsible],
            rule=f"topic:{topic.code}",
            answer_sla_days=topic.answer_sla_days,
            first_response_sla_hours=topic.first_response_sla_hours,
            timezone=catalogue.timezone,
        )
    return Decision(
        organization=organizations[catalogue.default_organization],
        rule="fallback:region-default",
        answer_sla_days=FALLBACK_SLA_DAYS,
        first_response_sla_hours=None,
        timezone=catalogue.timezone,
    )
