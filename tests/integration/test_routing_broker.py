"""Routing in-process (its app's lifespan) over the real RabbitMQ: events in, decisions out."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aio_pika
import httpx
import pytest

from devstack.appeals import submitted_envelope as submitted
from devstack.broker import delete_namespace
from libs.common.auth import INTERNAL_TOKEN_HEADER
from libs.common.events import (
    Envelope,
    EscalationReason,
    EscalationRequestedV1,
    EventType,
    OrganizationRef,
    ReassignRequestedV1,
    new_event,
)
from libs.common.messaging import EventBus, create_broker
from libs.common.settings import DEV_SECRET
from libs.common.topology import Topology
from services.routing.app import create_app
from services.routing.settings import RoutingSettings
from tests.infra import eventually

pytestmark = pytest.mark.integration

QUIET = 0.7  # long enough for a wrongly repeated decision to show up


@dataclass
class Running:
    http: httpx.AsyncClient
    bus: EventBus
    seen: list[Envelope] = field(default_factory=list)

    def decisions(self, appeal_id: str, event_type: str = EventType.APPEAL_ROUTED) -> list[dict[str, Any]]:
        # Deduplicated by event id, as every subscriber must (the outbox may publish twice).
        unique = {e.id: e for e in self.seen if e.subject == appeal_id and e.type == event_type}
        return [e.data for e in unique.values()]

    async def wait_for(
        self, appeal_id: str, count: int = 1, event_type: str = EventType.APPEAL_ROUTED
    ) -> list[dict[str, Any]]:
        async def enough() -> list[dict[str, Any]] | None:
            found = self.decisions(appeal_id, event_type)
            return found if len(found) >= count else None

        return await eventually(enough, timeout=20)


@asynccontextmanager
async def running_routing(rabbit_url: str, mongo_url: str | None, namespace: str) -> AsyncIterator[Running]:
    settings = RoutingSettings(env="dev", namespace=namespace, rabbit_url=rabbit_url, mongo_url=mongo_url)
    app = create_app(settings)
    publisher = create_broker(rabbit_url, prefetch=8)
    connection = await aio_pika.connect(rabbit_url)
    try:
        async with app.router.lifespan_context(app):
            await publisher.connect()
            running = Running(
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app),
                    base_url="http://routing",
                    headers={INTERNAL_TOKEN_HEADER: DEV_SECRET},
                ),
                EventBus(publisher, Topology(namespace)),
            )
            channel = await connection.channel()
            exchange = await channel.get_exchange(f"{namespace}.events")
            listener = await channel.declare_queue(exclusive=True, auto_delete=True)
            for key in (EventType.APPEAL_ROUTED, EventType.APPEAL_REJECTED):
                await listener.bind(exchange, routing_key=key)

            async def collect(message: aio_pika.abc.AbstractIncomingMessage) -> None:
                async with message.process():
                    running.seen.append(Envelope.model_validate_json(message.body))

            await listener.consume(collect)
            async with running.http:
                yield running
    finally:
        await publisher.stop()
        await connection.close()
        await delete_namespace(rabbit_url, namespace, ("routing",))


async def test_appeals_are_routed_or_rejected_once_each(
    rabbit_url: str, mongo_url: str | None, namespace: str
) -> None:
    async with running_routing(rabbit_url, mongo_url, namespace) as routing:
        lamp = submitted("landscaping.street_lighting", "Не горит фонарь", "Фонарь у дома 5 не горит неделю")
        rude = submitted("roads.potholes", "Яма", "Опять эта ёбаная яма у подъезда", author="citizen-2")
        for envelope in (lamp, rude, lamp):  # the last one: a redelivery
            await routing.bus.publish(envelope)
        (routed,) = await routing.wait_for(lamp.subject)
        assert routed["organization"]["id"] == "city-admin" and routed["answer_sla_days"] == 20
        (rejected,) = await routing.wait_for(rude.subject, event_type=EventType.APPEAL_REJECTED)
        assert rejected["reason_code"] == "profanity" and "нецензурную" in rejected["reason"]
        await asyncio.sleep(QUIET)
        assert len(routing.decisions(lamp.subject)) == 1
        assignment = (await routing.http.get(f"/internal/assignments/{lamp.subject}")).json()
        assert assignment["catalogue_version"] == 1 and assignment["area_id"] == "demograd"


async def test_reassignment_and_escalation_are_applied_once_per_event(
    rabbit_url: str, mongo_url: str | None, namespace: str
) -> None:
    async with running_routing(rabbit_url, mongo_url, namespace) as routing:
        pothole = submitted("roads.potholes", "Яма на дороге", "Глубокая яма на проезжей части у остановки")
        await routing.bus.publish(pothole)
        (first,) = await routing.wait_for(pothole.subject)
        assert first["organization"]["id"] == "dmg-roads"
        not_ours = ReassignRequestedV1(
            appeal_id=pothole.subject,
            number="n",
            organization=OrganizationRef(**first["organization"]),
            at=datetime.now(UTC),
            operator_id="operator-1",
            reason="Дорога не городская",
        )
        request = new_event(
            EventType.APPEAL_REASSIGN_REQUESTED,
            not_ours,
            source="intake",
            subject=pothole.subject,
            correlation_id="c",
        )
        await routing.bus.publish(request)
        await routing.bus.publish(request)  # redelivered: no second move
        moved = (await routing.wait_for(pothole.subject, 2))[1]
        assert (moved["reason"], moved["organization"]["id"]) == ("reassignment", "city-admin")
        assert moved["previous_organization"]["id"] == "dmg-roads"
        for level in (0, 1, 2):
            escalate = EscalationRequestedV1(
                appeal_id=pothole.subject,
                number="n",
                at=datetime.now(UTC),
                reason=EscalationReason.CITIZEN,
                escalation_level=level,
            )
            await routing.bus.publish(
                new_event(
                    EventType.APPEAL_ESCALATION_REQUESTED,
                    escalate,
                    source="intake",
                    subject=pothole.subject,
                    correlation_id="c",
                )
            )
            await routing.wait_for(pothole.subject, 3 + level)
        await asyncio.sleep(QUIET)
        moves = routing.decisions(pothole.subject)
        assert [(m["organization"]["id"], m["escalation_level"]) for m in moves] == [
            ("dmg-roads", 0),
            ("city-admin", 0),
            ("region-admin", 1),
            ("region-admin", 1),  # already at the top: stays, explained in the history
            ("region-admin", 1),
        ]
        history = (await routing.http.get(f"/internal/assignments/{pothole.subject}")).json()["history"]
        assert [h["action"] for h in history] == [
            "initial",
            "reassignment",
            "escalation",
            "escalation",
            "escalation",
        ]


async def test_a_held_appeal_is_routed_after_a_moderator_approves(
    rabbit_url: str, mongo_url: str | None, namespace: str
) -> None:
    async with running_routing(rabbit_url, mongo_url, namespace) as routing:
        held = submitted("housing.yard_cleaning", "Двор", "Во дворе дерьмо, управляющая компания не убирает")
        await routing.bus.publish(held)

        async def queued() -> list[dict[str, Any]] | None:
            items = (await routing.http.get("/internal/moderation")).json()["items"]
            return [i for i in items if i["appeal_id"] == held.subject] or None

        await eventually(queued, timeout=20)
        assert routing.decisions(held.subject) == []
        decided = await routing.http.post(
            f"/internal/moderation/{held.subject}",
            json={"decision": "approve"},
            headers={"X-Actor": "admin-1"},
        )
        assert decided.status_code == 200, decided.text
        (routed,) = await routing.wait_for(held.subject)
        assert routed["organization"]["id"] == "city-admin"


async def test_nearby_appeals_form_a_cluster(rabbit_url: str, mongo_url: str | None, namespace: str) -> None:
    async with running_routing(rabbit_url, mongo_url, namespace) as routing:
        points = [(57.6500, 43.7700), (57.6510, 43.7700), (57.6500, 43.7737)]
        envelopes = [
            submitted(
                "landscaping.street_lighting",
                f"Фонарь {i}",
                f"Не горит фонарь номер {i}",
                lat=lat,
                lon=lon,
                author=f"c-{i}",
            )
            for i, (lat, lon) in enumerate(points)
        ]
        for envelope in envelopes:
            await routing.bus.publish(envelope)
            await routing.wait_for(envelope.subject)

        async def cluster() -> dict[str, Any] | None:
            items = (
                await routing.http.get("/internal/clusters", params={"organization_id": "city-admin"})
            ).json()
            return items["items"][0] if items["total"] and items["items"][0]["size"] == 3 else None

        found = await eventually(cluster, timeout=20)
        assert {m["appeal_id"] for m in found["members"]} == {e.subject for e in envelopes}
