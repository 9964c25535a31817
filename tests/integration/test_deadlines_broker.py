"""The deadlines service in-process over the real RabbitMQ: the test publishes the lifecycle events
intake would, and listens to what deadlines announces, as any other system would (its own queue).
Time is a ManualClock: the timer loop ticks fast, the 30-day deadlines pass when the test says."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from libs.common.clock import ManualClock
from libs.common.events import (
    AppealAnsweredV1,
    AppealClarifiedV1,
    AppealRatedV1,
    AppealRoutedV1,
    ClarificationRequestedV1,
    DeadlineExtensionRequestedV1,
    Envelope,
    EventType,
    OrganizationRef,
    RereviewRequestedV1,
    new_event,
)
from services.deadlines.app import create_app
from services.deadlines.settings import DeadlinesSettings
from tests.infra import eventually

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # 12:00 in Moscow
ORG = OrganizationRef(id="org-roads", name="Дорожное хозяйство")
DUE = "2026-03-12T20:59:59Z"  # end of 12 Mar in Moscow: 10 calendar days


@dataclass
class Harness:
    app: FastAPI
    clock: ManualClock
    exchange: aio_pika.abc.AbstractExchange
    heard: list[dict[str, Any]]

    async def publish(self, event_type: EventType, payload: BaseModel) -> Envelope:
        envelope = new_event(
            event_type, payload, source="test", subject=payload.appeal_id, correlation_id="c"
        )  # type: ignore[attr-defined]
        await self.send(envelope)
        return envelope

    async def send(self, envelope: Envelope) -> None:
        message = aio_pika.Message(
            envelope.model_dump_json().encode(), delivery_mode=aio_pika.DeliveryMode.PERSISTENT
        )
        await self.exchange.publish(message, routing_key=envelope.type)

    async def fact(
        self, event_type: EventType, model: type[BaseModel], appeal_id: str = "a1", **extra: Any
    ) -> Envelope:
        payload = model(
            appeal_id=appeal_id, number=f"2026-{appeal_id}", organization=ORG, at=self.clock(), **extra
        )
        return await self.publish(event_type, payload)

    async def routed(self, appeal_id: str = "a1", **changes: Any) -> Envelope:
        payload = AppealRoutedV1(
            appeal_id=appeal_id,
            number=f"2026-{appeal_id}",
            topic="roads.potholes",
            organization=ORG,
            rule="topic",
            answer_sla_days=10,
            timezone="Europe/Moscow",
            routed_at=self.clock(),
            **changes,
        )
        return await self.publish(EventType.APPEAL_ROUTED, payload)

    def heard_of(self, event_type: EventType, appeal_id: str = "a1") -> list[dict[str, Any]]:
        """What was announced, deduplicated by event id as an idempotent consumer does: publishing is
        at least once (the outbox relay's sweep may race a flush)."""
        unique = {e["id"]: e for e in self.heard if e["type"] == event_type and e["subject"] == appeal_id}
        return list(unique.values())

    async def until(
        self, event_type: EventType, count: int = 1, appeal_id: str = "a1"
    ) -> list[dict[str, Any]]:
        async def enough() -> list[dict[str, Any]] | None:
            found = self.heard_of(event_type, appeal_id)
            return found if len(found) >= count else None

        return await eventually(enough, timeout=15)


@asynccontextmanager
async def listening(rabbit_url: str, namespace: str) -> AsyncIterator[tuple[Any, list[dict[str, Any]]]]:
    """Our own queue on the exchange, bound to what deadlines announces."""
    heard: list[dict[str, Any]] = []
    connection = await aio_pika.connect(rabbit_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            f"{namespace}.events", aio_pika.ExchangeType.TOPIC, durable=True
        )
        listener = await channel.declare_queue(exclusive=True, auto_delete=True)
        await listener.bind(exchange, routing_key="deadline.#")

        async def collect(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                heard.append(json.loads(message.body))

        await listener.consume(collect)
        yield exchange, heard


def deadlines_app(rabbit_url: str, namespace: str, clock: ManualClock, **overrides: Any) -> FastAPI:
    settings = DeadlinesSettings(
        env="dev",
        namespace=namespace,
        rabbit_url=rabbit_url,
        tick_seconds=0.02,
        retry_backoff_seconds=0.05,
        **overrides,
    )
    return create_app(settings, clock)


@asynccontextmanager
async def deadlines(rabbit_url: str, namespace: str, **overrides: Any) -> AsyncIterator[Harness]:
    clock = ManualClock(T0)
    app = deadlines_app(rabbit_url, namespace, clock, **overrides)
    async with listening(rabbit_url, namespace) as (exchange, heard), app.router.lifespan_context(app):
        yield Harness(app, clock, exchange, heard)


async def test_routed_arms_then_warns_then_alerts_overdue(rabbit_url: str, namespace: str) -> None:
    async with deadlines(rabbit_url, namespace) as h:
        await h.routed()
        (armed,) = await h.until(EventType.DEADLINE_ARMED)
        assert armed["data"]["due_at"] == DUE and armed["data"]["timer"] == "answer"
        assert armed["data"]["timezone"] == "Europe/Moscow"
        h.clock.advance(timedelta(days=8))  # 3-day mark (9 Mar 20:59:59) passed
        (warning,) = await h.until(EventType.DEADLINE_WARNING)
        assert warning["data"]["remaining_hours"] == 60
        h.clock.advance(timedelta(days=2))  # 1-day mark (11 Mar 20:59:59) passed
        second = (await h.until(EventType.DEADLINE_WARNING, 2))[-1]
        assert second["data"]["remaining_hours"] == 12
        h.clock.advance(timedelta(days=1))
        (overdue,) = await h.until(EventType.DEADLINE_OVERDUE)
        assert overdue["data"]["due_at"] == DUE and overdue["data"]["organization"]["id"] == "org-roads"


async def test_pause_extension_rereview_and_the_rating_window(rabbit_url: str, namespace: str) -> None:
    async with deadlines(rabbit_url, namespace, rating_window_seconds=5 * 86400) as h:
        await h.routed()
        await h.until(EventType.DEADLINE_ARMED)
        h.clock.advance(timedelta(days=1))
        await h.fact(
            EventType.APPEAL_CLARIFICATION_REQUESTED, ClarificationRequestedV1, operator_id="o", question="?"
        )
        h.clock.advance(timedelta(days=2))
        await h.fact(EventType.APPEAL_CLARIFIED, AppealClarifiedV1)
        resumed = (await h.until(EventType.DEADLINE_ARMED, 2))[-1]
        assert resumed["data"]["due_at"] == "2026-03-14T20:59:59Z"  # two paused days added
        await h.fact(
            EventType.DEADLINE_EXTENSION_REQUESTED,
            DeadlineExtensionRequestedV1,
            operator_id="o",
            days=5,
            reason="works",
        )
        extended = (await h.until(EventType.DEADLINE_ARMED, 3))[-1]
        assert extended["data"]["due_at"] == "2026-03-19T20:59:59Z"
        # A second extension in the same round is refused: no new due date, only an audit entry.
        await h.fact(
            EventType.DEADLINE_EXTENSION_REQUESTED,
            DeadlineExtensionRequestedV1,
            operator_id="o",
            days=1,
            reason="again",
        )
        h.clock.advance(timedelta(days=1))
        await h.fact(EventType.APPEAL_ANSWERED, AppealAnsweredV1, operator_id="o", text="done")
        window = (await h.until(EventType.DEADLINE_ARMED, 4))[-1]
        assert window["data"]["timer"] == "rating_window"
        clock = await h.app.state.flows.get("a1")
        assert [(e.granted, e.days) for e in clock.extensions] == [(True, 5), (False, 1)]
        await h.fact(EventType.APPEAL_RATED, AppealRatedV1, score=2)
        await h.fact(EventType.APPEAL_REREVIEW_REQUESTED, RereviewRequestedV1, round=1)
        rereview = (await h.until(EventType.DEADLINE_ARMED, 5))[-1]
        assert (rereview["data"]["timer"], rereview["data"]["due_at"]) == ("answer", "2026-03-16T20:59:59Z")
        h.clock.advance(timedelta(days=2))
        await h.fact(EventType.APPEAL_ANSWERED, AppealAnsweredV1, operator_id="o", text="redone", round=1)
        await h.until(EventType.DEADLINE_ARMED, 6)
        h.clock.advance(timedelta(days=5))
        (ended,) = await h.until(EventType.RATING_WINDOW_ENDED)
        assert ended["data"]["ended_at"] == "2026-03-13T09:00:00Z"  # 5 days after the second answer
        assert h.heard_of(EventType.DEADLINE_OVERDUE) == []


async def test_a_redelivered_event_is_announced_once(rabbit_url: str, namespace: str) -> None:
    async with deadlines(rabbit_url, namespace) as h:
        first = await h.routed("a1")
        await h.send(first)  # the same event again, as a broker redelivery would bring it
        await h.routed("marker")
        await h.until(EventType.DEADLINE_ARMED, appeal_id="marker")
        await h.until(EventType.DEADLINE_ARMED, appeal_id="a1")

        async def pulled() -> Any:  # the published entry leaves the outbox (pulls are deferred)
            doc = await h.app.state.flows.collection.find_one({"_id": "a1"})
            return doc if doc["outbox"] == [] else None

        assert (await eventually(pulled, timeout=10))["applied"] == [first.id]
        assert len(h.heard_of(EventType.DEADLINE_ARMED)) == 1


async def test_a_stopped_service_catches_up_when_it_starts_again(rabbit_url: str, namespace: str) -> None:
    clock = ManualClock(T0)
    app = deadlines_app(rabbit_url, namespace, clock)
    async with listening(rabbit_url, namespace) as (exchange, heard):
        h = Harness(app, clock, exchange, heard)
        async with app.router.lifespan_context(app):
            await h.routed("late-1")
            await h.routed("late-2", channel="social", first_response_sla_hours=4)
            await h.until(EventType.DEADLINE_ARMED, appeal_id="late-1")
            await h.until(EventType.DEADLINE_ARMED, 2, appeal_id="late-2")
        clock.advance(timedelta(days=40))  # down for 40 days
        async with app.router.lifespan_context(app):
            overdue = await h.until(EventType.DEADLINE_OVERDUE, 2, appeal_id="late-2")
            await h.until(EventType.DEADLINE_OVERDUE, appeal_id="late-1")
        assert sorted(e["data"]["timer"] for e in overdue) == ["answer", "first_response"]
        assert h.heard_of(EventType.DEADLINE_WARNING, "late-1") == []
