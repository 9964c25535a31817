"""The gateway and the polls service in-process over the real RabbitMQ: the gateway's calls to
polls go to the real polls app (its store: the in-process one, or `mongo_url`); routing's
catalogue areas and text moderation and notify's poll subscriptions are answered by fakes
(moderation by routing's own pure function)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import httpx

from libs.common.auth import Role, issue_dev_token
from libs.common.settings import DEV_SECRET
from services.intake.app import create_app as create_gateway
from services.intake.settings import IntakeSettings
from services.polls.app import create_app as create_polls
from services.polls.settings import PollsSettings
from services.routing.moderation import moderate
from tests.integration.gateway_harness import FakeServices

AREAS = [{"id": "demograd", "active": True}, {"id": "zarechny", "active": True}]
ORGANIZATIONS = {"city", "roads"}


@dataclass
class PollFakes(FakeServices):
    """Routing's areas, organisations and text moderation; notify's poll subscriptions; and
    everything under /internal/polls forwarded to the real polls app."""

    polls_transport: httpx.AsyncBaseTransport | None = None
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)

    async def answer(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.startswith("/internal/polls"):
            assert self.polls_transport is not None
            return await self.polls_transport.handle_async_request(request)
        if path == "/internal/catalogue/areas":
            return httpx.Response(200, json=AREAS)
        if path.startswith("/internal/catalogue/organizations/"):
            known = path.rsplit("/", 1)[-1] in ORGANIZATIONS
            return httpx.Response(200 if known else 404, json={"detail": "ok" if known else "no such"})
        if path == "/internal/moderate-text":
            outcome = moderate("", json.loads(request.content)["text"])
            body = {"verdict": str(outcome.verdict), "reason_code": outcome.code, "reason": outcome.reason()}
            return httpx.Response(200, json=body)
        if path.startswith("/internal/poll-subscriptions/"):
            user = path.rsplit("/", 1)[-1]
            if request.method == "PUT":
                self.subscriptions[user] = json.loads(request.content)
            return httpx.Response(200, json=self.subscriptions.get(user, {"area_ids": []}))
        return self(request)


@dataclass
class PollsGateway:
    client: httpx.AsyncClient
    gateway: Any
    polls: Any
    fakes: PollFakes
    published: list[dict[str, Any]]

    def token(self, sub: str, role: Role = Role.CITIZEN, org_id: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_dev_token(DEV_SECRET, sub=sub, role=role, org_id=org_id)}"}

    def operator(self, org: str = "city") -> dict[str, str]:
        return self.token(f"op-{org}", Role.OPERATOR, org)

    async def draft(self, org: str = "city", **overrides: Any) -> dict[str, Any]:
        body = {
            "title": "Новая детская площадка",
            "questions": [
                {"text": "Где?", "kind": "single", "options": ["Парк", "Набережная"]},
                {"text": "Ваше мнение", "kind": "opinion"},
            ],
            "area_ids": ["demograd"],
            "closes_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
            **overrides,
        }
        response = await self.client.post("/api/v1/polls", headers=self.operator(org), json=body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def published_poll(self, org: str = "city", **overrides: Any) -> dict[str, Any]:
        poll = await self.draft(org, **overrides)
        response = await self.client.post(f"/api/v1/polls/{poll['id']}/publish", headers=self.operator(org))
        assert response.status_code == 200, response.text
        return dict(response.json())

    def events(self, event_type: str, subject: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.published if e["type"] == event_type and subject in (None, e["subject"])]


@asynccontextmanager
async def running_polls_gateway(
    rabbit_url: str, namespace: str, mongo_url: str | None = None, **polls_settings: Any
) -> AsyncIterator[PollsGateway]:
    common = {"env": "dev", "namespace": namespace, "rabbit_url": rabbit_url}
    polls_config = {"tick_seconds": 0.1, "close_grace_seconds": 0.2, **polls_settings}
    polls = create_polls(PollsSettings(**common, mongo_url=mongo_url, **polls_config))
    fakes = PollFakes(polls_transport=httpx.ASGITransport(app=polls))
    settings = IntakeSettings(**common, action_rate_per_minute=1000)
    gateway = create_gateway(settings, upstream_transport=httpx.MockTransport(fakes.answer))
    published: list[dict[str, Any]] = []
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(polls.router.lifespan_context(polls))
        await stack.enter_async_context(gateway.router.lifespan_context(gateway))
        connection = await stack.enter_async_context(await aio_pika.connect(rabbit_url))
        channel = await connection.channel()
        exchange = await channel.get_exchange(f"{namespace}.events")
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, routing_key="poll.*")

        async def collect(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                published.append(json.loads(message.body))

        await queue.consume(collect)
        transport = httpx.ASGITransport(app=gateway)
        client = await stack.enter_async_context(
            httpx.AsyncClient(transport=transport, base_url="http://gateway")
        )
        yield PollsGateway(client, gateway, polls, fakes, published)
