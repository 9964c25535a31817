"""Routing use cases over the in-memory store and a fake bus: moderation, routing, moves, the queue."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from libs.common.clock import ManualClock
from libs.common.contracts.routing import ModerationDecisionIn
from libs.common.events import (
    AppealSubmittedV1,
    Envelope,
    EscalationReason,
    EscalationRequestedV1,
    EventType,
    Location,
    OrganizationRef,
    ReassignRequestedV1,
    new_event,
)
from libs.common.http import Problem
from libs.common.outbox import OutboxRelay
from libs.common.store import Database, open_store
from services.routing.catalogue import CatalogueStore
from services.routing.clusters import ClusterFlows
from services.routing.flows import RoutingFlows
from services.routing.records import ASSIGNMENTS
from services.routing.settings import RoutingSettings
from services.routing.triage import TriageFlows

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TEXT = ("Не горит фонарь", "Фонарь у дома 5 на улице Ленина не горит вторую неделю.")


class FakeBus:
    def __init__(self) -> None:
        self.published: list[Envelope] = []

    async def publish(self, envelope: Envelope) -> None:
        self.published.append(envelope)

    def of(self, event_type: str, appeal_id: str | None = None) -> list[dict[str, Any]]:
        return [
            e.data
            for e in self.published
            if e.type == event_type and (appeal_id is None or e.subject == appeal_id)
        ]


@dataclass
class Harness:
    db: Database
    catalogue: CatalogueStore
    flows: RoutingFlows
    clusters: ClusterFlows
    bus: FakeBus
    clock: ManualClock
    settings: RoutingSettings
    triage: TriageFlows
    numbers: list[int] = field(default_factory=lambda: [0])

    def submitted(
        self,
        *,
        topic: str = "landscaping.street_lighting",
        text: tuple[str, str] = TEXT,
        lat: float | None = 57.65,
        lon: float | None = 43.77,
        address: str | None = None,
        author: str = "citizen-1",
        channel: str = "web",
        at: datetime | None = None,
    ) -> Envelope:
        self.numbers[0] += 1
        appeal_id = uuid.uuid4().hex
        payload = AppealSubmittedV1(
            appeal_id=appeal_id,
            number=f"2026-{self.numbers[0]:06d}",
            kind="complaint",
            channel=channel,
            topic=topic,
            summary=text[0],
            description=text[1],
            location=Location(lat=lat, lon=lon, address=address),
            author_id=author,
            submitted_at=at or self.clock(),
        )
        return new_event(
            EventType.APPEAL_SUBMITTED, payload, source="intake", subject=appeal_id, correlation_id="c1"
        )

    async def submit(self, envelope: Envelope) -> dict[str, Any]:
        await self.flows.route_submitted(envelope, AppealSubmittedV1.model_validate(envelope.data))
        doc = await self.db[ASSIGNMENTS].find_one({"_id": envelope.subject})
        assert doc is not None
        return doc


async def harness(**overrides: Any) -> Harness:
    settings = RoutingSettings(env="dev", **overrides)
    db = open_store(None, f"routing-{uuid.uuid4().hex[:8]}").db
    clock = ManualClock(START)
    catalogue = CatalogueStore(db, clock, dev=settings.is_dev)
    await catalogue.load_file(settings.catalogue_path)
    bus = FakeBus()
    clusters = ClusterFlows(db, catalogue, clock, settings)
    flows = RoutingFlows(db, catalogue, OutboxRelay(db, [ASSIGNMENTS], bus), clock, settings, clusters)  # type: ignore[arg-type]
    triage = TriageFlows(flows, catalogue, clusters)
    await flows.ensure_indexes()
    await clusters.ensure_indexes()
    return Harness(db, catalogue, flows, clusters, bus, clock, settings, triage)


def reassign_request(appeal_id: str, org: str) -> Envelope:
    payload = ReassignRequestedV1(
        appeal_id=appeal_id,
        number="n",
        organization=OrganizationRef(id=org, name=org),
        at=START,
        operator_id="operator-7",
        reason="Это не наша территория",
    )
    return new_event(
        EventType.APPEAL_REASSIGN_REQUESTED, payload, source="intake", subject=appeal_id, correlation_id="c2"
    )


def escalation_request(appeal_id: str, level: int = 0) -> Envelope:
    payload = EscalationRequestedV1(
        appeal_id=appeal_id, number="n", at=START, reason=EscalationReason.CITIZEN, escalation_level=level
    )
    return new_event(
        EventType.APPEAL_ESCALATION_REQUESTED,
        payload,
        source="intake",
        subject=appeal_id,
        correlation_id="c3",
    )


async def test_a_submitted_appeal_is_routed_once_whatever_the_redeliveries() -> None:
    h = await harness()
    envelope = h.submitted()
    for _ in range(3):
        doc = await h.submit(envelope)
    routed = h.bus.of(EventType.APPEAL_ROUTED)
    assert len(routed) == 1
    assert routed[0]["organization"] == {"id": "city-admin", "name": "Администрация города Демоград"}
    assert routed[0]["rule"] == "rule:landscaping-municipal"
    assert routed[0]["answer_sla_days"] == 20
    # The first routing announces the due date: the end of the 20th day after 2 March in Moscow.
    assert (routed[0]["timezone"], routed[0]["answer_due_at"]) == ("Europe/Moscow", "2026-03-22T20:59:59Z")
    assert routed[0]["first_response_sla_hours"] is None
    assert routed[0]["reason"] == "initial"
    assert doc["status"] == "routed" and doc["catalogue_version"] == 1
    assert (doc["area_id"], doc["located_by"]) == ("demograd", "point")
    assert [entry["action"] for entry in doc["history"]] == ["initial"]
    assert doc["outbox"] == []


async def test_social_incidents_get_a_first_response_deadline_and_dev_topics_minutes() -> None:
    h = await harness()
    await h.submit(h.submitted(channel="social"))
    await h.submit(h.submitted(topic="dev.short_sla", text=("Демо срока", "Проверяем короткий срок ответа")))
    social, dev = h.bus.of(EventType.APPEAL_ROUTED)
    assert social["first_response_sla_hours"] == 9
    assert dev["answer_sla_minutes"] == 1
    assert dev["answer_due_at"] == "2026-03-02T09:01:00Z"  # a minute after routing


async def test_an_obscene_appeal_is_rejected_with_a_reason_in_russian() -> None:
    h = await harness()
    doc = await h.submit(h.submitted(text=("Фонарь", "Опять этот бл*дский фонарь не горит, пиздец")))
    (rejected,) = h.bus.of(EventType.APPEAL_REJECTED)
    assert rejected["reason_code"] == "profanity"
    assert "нецензурную" in rejected["reason"]
    assert doc["status"] == "rejected" and not h.bus.of(EventType.APPEAL_ROUTED)


async def test_the_same_text_from_the_same_author_within_the_window_is_a_repeat() -> None:
    h = await harness(spam_window_minutes=60)
    first = await h.submit(h.submitted())
    h.clock.advance(timedelta(minutes=30))
    repeat = await h.submit(h.submitted(text=(TEXT[0].upper(), TEXT[1] + "!!")))
    assert repeat["status"] == "rejected" and repeat["rejection"]["code"] == "repeat"
    assert first["number"] in repeat["rejection"]["reason"]
    other_author = await h.submit(h.submitted(author="citizen-2"))
    assert other_author["status"] == "routed"
    h.clock.advance(timedelta(minutes=61))
    later = await h.submit(h.submitted())
    assert later["status"] == "routed"


async def test_a_borderline_appeal_waits_for_a_moderator_who_approves_it() -> None:
    h = await harness()
    doc = await h.submit(h.submitted(text=("Двор", "Во дворе полное дерьмо, никто не убирает")))
    assert doc["status"] == "held" and not h.bus.published
    items, total = await h.flows.held(10, 0)
    assert total == 1 and items[0]["text"]["description"].startswith("Во дворе")
    assert "author_id" not in items[0] and "fingerprint" not in items[0]
    decided = (
        await h.flows.decide_held(doc["_id"], ModerationDecisionIn(decision="approve"), "admin-1")
    ).model_dump()
    assert decided["status"] == "routed" and decided["organization"]["id"] == "city-admin"
    assert decided["history"][-1]["actor"] == "moderator:admin-1"
    assert len(h.bus.of(EventType.APPEAL_ROUTED)) == 1
    with pytest.raises(Problem) as again:
        await h.flows.decide_held(
            doc["_id"], ModerationDecisionIn(decision="reject", reason_code="rude"), "admin-2"
        )
    assert again.value.status == 409


async def test_a_moderator_rejects_with_a_standard_reason() -> None:
    h = await harness()
    doc = await h.submit(
        h.submitted(text=("Проблемы", "Во дворе:\n1. яма\n2. мусор\n3. нет света у подъезда"))
    )
    with pytest.raises(Problem) as missing:
        await h.flows.decide_held(doc["_id"], ModerationDecisionIn(decision="reject"), "admin-1")
    assert missing.value.status == 422
    await h.flows.decide_held(
        doc["_id"], ModerationDecisionIn(decision="reject", reason_code="several_problems"), "admin-1"
    )
    (rejected,) = h.bus.of(EventType.APPEAL_REJECTED)
    assert rejected["reason_code"] == "several_problems" and "одну проблему" in rejected["reason"]


async def test_reassignment_moves_once_per_event_and_never_back_to_a_refuser() -> None:
    h = await harness()
    appeal = await h.submit(
        h.submitted(topic="roads.potholes", text=("Яма", "Глубокая яма на проезжей части"))
    )
    assert appeal["organization"]["id"] == "dmg-roads"
    first = reassign_request(appeal["_id"], "dmg-roads")
    for _ in range(2):  # a redelivery changes nothing
        await h.flows.reassign(first, ReassignRequestedV1.model_validate(first.data))
    moves = h.bus.of(EventType.APPEAL_ROUTED)[1:]
    assert len(moves) == 1
    assert moves[0]["organization"]["id"] == "city-admin"
    assert moves[0]["reason"] == "reassignment"
    assert moves[0]["previous_organization"]["id"] == "dmg-roads"
    assert moves[0]["answer_due_at"] is None  # whether a move keeps the deadline is deadlines' to say
    seen = ["dmg-roads", "city-admin"]
    for _ in range(4):
        request = reassign_request(appeal["_id"], seen[-1])
        await h.flows.reassign(request, ReassignRequestedV1.model_validate(request.data))
        seen.append(h.bus.of(EventType.APPEAL_ROUTED)[-1]["organization"]["id"])
    assert seen == [
        "dmg-roads",
        "city-admin",
        "regional-roads",
        "region-admin",
        "region-admin",
        "region-admin",
    ]
    doc = (await h.flows.assignment(appeal["_id"])).model_dump()
    assert set(doc["refused"]) == {"dmg-roads", "city-admin", "regional-roads", "region-admin"}
    assert doc["history"][-1]["rule"] == "reassignment:exhausted"
    assert doc["history"][1]["comment"] == "Это не наша территория"
    assert doc["history"][1]["actor"] == "operator-7"


async def test_escalation_climbs_to_the_top_and_is_audited() -> None:
    h = await harness()
    appeal = await h.submit(
        h.submitted(topic="health.appointment", text=("Запись", "Не могу записаться к терапевту"))
    )
    for level in range(3):
        request = escalation_request(appeal["_id"], level)
        await h.flows.escalate(request, EscalationRequestedV1.model_validate(request.data))
        await h.flows.escalate(request, EscalationRequestedV1.model_validate(request.data))  # redelivered
    moves = h.bus.of(EventType.APPEAL_ROUTED)[1:]
    assert [(m["organization"]["id"], m["escalation_level"]) for m in moves] == [
        ("min-health", 1),
        ("region-admin", 2),
        ("region-admin", 2),
    ]
    assert all(m["reason"] == "escalation" for m in moves)
    doc = (await h.flows.assignment(appeal["_id"])).model_dump()
    assert doc["history"][-1]["rule"] == "escalation:top-level"
    assert "верхний уровень" in doc["history"][-1]["note"]


async def test_moves_of_an_appeal_that_is_not_routed_are_ignored() -> None:
    h = await harness()
    rejected = await h.submit(h.submitted(text=("Фонарь", "хуй")))
    request = escalation_request(rejected["_id"])
    await h.flows.escalate(request, EscalationRequestedV1.model_validate(request.data))
    assert not h.bus.of(EventType.APPEAL_ROUTED)
    unknown = escalation_request("no-such-appeal")
    with pytest.raises(LookupError):
        await h.flows.escalate(unknown, EscalationRequestedV1.model_validate(unknown.data))
