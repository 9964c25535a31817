"""Intake in-process over the real RabbitMQ; routing/media/notify HTTP answered by a fake, and the
decisions of routing and deadlines published as real events by the test."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aio_pika
import httpx
from pydantic import BaseModel

from libs.common.auth import Role, issue_dev_token
from libs.common.events import (
    AppealRoutedV1,
    EventType,
    OrganizationRef,
    RoutingReason,
    new_event,
)
from libs.common.settings import DEV_SECRET
from services.intake.app import create_app
from services.intake.settings import IntakeSettings
from tests.infra import eventually

TOPICS = [
    {"code": "roads.potholes", "name": "Ямы на дорогах", "category": "Дороги", "answer_sla_days": 30},
    {"code": "transport.schedule", "name": "Расписание", "category": "Транспорт", "answer_sla_days": 10},
]
ORGS = {
    "roads": OrganizationRef(id="roads", name="Дорожное управление"),
    "city": OrganizationRef(id="city", name="Администрация города"),
    "region": OrganizationRef(id="region", name="Правительство области"),
}


@dataclass
class FakeServices:
    """Answers the gateway's internal calls the way routing, media and notify do."""

    media: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add_media(self, owner: str) -> str:
        media_id = uuid.uuid4().hex
        self.media[media_id] = {"id": media_id, "owner_id": owner, "appeal_id": None}
        return media_id

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/internal/topics":
            return httpx.Response(200, json=TOPICS)
        if path.startswith("/internal/media/"):
            media = self.media.get(path.split("/")[3])
            return (
                httpx.Response(200, json=media)
                if media
                else httpx.Response(404, json={"detail": "not found"})
            )
        if path.startswith("/internal/feed/"):
            return httpx.Response(200, json={"items": [], "total": 0, "unread": 0})
        return httpx.Response(404, json={"detail": f"no fake for {path}"})


@dataclass
class Gateway:
    client: httpx.AsyncClient
    app: Any
    fakes: FakeServices
    published: list[dict[str, Any]]

    def token(self, sub: str, role: Role = Role.CITIZEN, org_id: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_dev_token(DEV_SECRET, sub=sub, role=role, org_id=org_id)}"}

    async def submit(self, who: dict[str, str], **overrides: Any) -> dict[str, Any]:
        body = {
            "kind": "complaint",
            "topic": "roads.potholes",
            "summary": "Яма у остановки",
            "description": "Глубокая яма на проезжей части у остановки «Школа».",
            "location": {"lat": 55.7, "lon": 37.6, "address": "ул. Школьная, 1"},
            "contact": {"email": "resident@example.org"},
            **overrides,
        }
        response = await self.client.post("/api/v1/appeals", headers=who, json=body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def publish(self, event_type: EventType, payload: BaseModel, appeal_id: str, source: str) -> None:
        envelope = new_event(event_type, payload, source=source, subject=appeal_id, correlation_id="test")
        await self.app.state.runtime.bus.publish(envelope)

    async def route(
        self,
        appeal: dict[str, Any],
        org: str = "roads",
        reason: RoutingReason = RoutingReason.INITIAL,
        level: int = 0,
    ) -> dict[str, Any]:
        routed = AppealRoutedV1(
            appeal_id=appeal["id"],
            number=appeal["number"],
            topic="roads.potholes",
            organization=ORGS[org],
            rule="test",
            answer_sla_days=30,
            routed_at=datetime.now(UTC),
            reason=reason,
            escalation_level=level,
        )
        await self.publish(EventType.APPEAL_ROUTED, routed, appeal["id"], "routing")
        admin = self.token("admin-1", Role.ADMIN)

        async def arrived() -> dict[str, Any] | None:
            body = (await self.client.get(f"/api/v1/appeals/{appeal['id']}", headers=admin)).json()
            return (
                body
                if (body.get("organization") or {}).get("id") == org and body["status"] == "routed"
                else None
            )

        return await eventually(arrived, timeout=10)

    def events(self, event_type: str, appeal_id: str | None = None) -> list[dict[str, Any]]:
        return [
            event
            for event in self.published
            if event["type"] == event_type and (appeal_id is None or event["subject"] == appeal_id)
        ]


@asynccontextmanager
async def running_gateway(rabbit_url: str, namespace: str, **settings: Any) -> AsyncIterator[Gateway]:
    config = IntakeSettings(env="dev", namespace=namespace, rabbit_url=rabbit_url, **settings)
    fakes = FakeServices()
    app = create_app(config, upstream_transport=httpx.MockTransport(fakes))
    published: list[dict[str, Any]] = []
    connection = await aio_pika.connect(rabbit_url)
    async with connection, app.router.lifespan_context(app):
        # A subscriber of our own, as any other system would bind one: it sees every event.
        channel = await connection.channel()
        exchange = await channel.get_exchange(f"{namespace}.events")
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, routing_key="#")

        async def collect(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                published.append(json.loads(message.body))

        await queue.consume(collect)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield Gateway(client, app, fakes, published)
