"""Every event the platform emits, as an outside subscriber receives it, read by the official
CloudEvents SDK (`cloudevents` on PyPI) through its RabbitMQ binding.

The test binds its own queue to the events exchange (as any other system would), drives the
lifecycle through the five real services until every registered event type has been seen, and
parses every message it received; none may be refused. Short windows make the timers fire within
the test: a one-minute demo deadline with a warning 36 s before it, a 3-second rating window.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import httpx
import pytest
from cloudevents.core.bindings import rabbitmq
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from devstack.mailsink import MailSink
from devstack.stack import LocalStack, free_port
from libs.common.events import PAYLOADS, EventType, decode_payload, parse_envelope
from tests.e2e.conftest import bearer, start_stack
from tests.infra import eventually

pytestmark = pytest.mark.e2e

EVERY_TYPE = {str(event_type) for event_type in EventType}


@pytest.fixture(scope="module")
def own_mail() -> Iterator[MailSink]:
    """Its own mailbox: appeal numbers restart in every stack, other tests filter mail by them."""
    with MailSink("127.0.0.1", free_port()) as sink:
        yield sink


@pytest.fixture(scope="module")
def events_stack(
    own_mail: MailSink, tmp_path_factory: pytest.TempPathFactory, rabbit_url: str
) -> Iterator[LocalStack]:
    stack = start_stack(
        own_mail,
        tmp_path_factory,
        rabbit_url,
        DEADLINES_RATING_WINDOW_SECONDS="3",
        DEADLINES_WARNING_OFFSETS_HOURS="[0.01]",  # 36 s before a deadline
    )
    yield stack
    stack.stop()


@pytest.fixture
async def received(events_stack: LocalStack, rabbit_url: str) -> AsyncIterator[list[Any]]:
    """Every message on the events exchange, raw, from a queue of the test's own."""
    messages: list[Any] = []
    connection = await aio_pika.connect(rabbit_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(f"{events_stack.namespace}.events")
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, routing_key="#")

        async def collect(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                messages.append(message)

        await queue.consume(collect)
        yield messages


def as_sdk_message(message: Any) -> rabbitmq.RabbitMQMessage:
    headers = {str(key): str(value) for key, value in (message.headers or {}).items()}
    return rabbitmq.RabbitMQMessage(headers=headers, content_type=message.content_type, body=message.body)


async def test_the_cloudevents_sdk_parses_every_event_type_the_platform_emits(
    events_stack: LocalStack, received: list[Any]
) -> None:
    async with httpx.AsyncClient(base_url=events_stack.url("intake"), timeout=15) as api:
        citizen = await bearer(api, "ce-citizen")
        operator = await bearer(api, "ce-operator", "operator", "city-admin")

        async def submit(topic: str, description: str) -> dict[str, Any]:
            body = {
                "kind": "complaint",
                "topic": topic,
                "summary": description[:40],
                "description": description,
                "location": {"lat": 57.65, "lon": 43.77},
                "contact": {"email": "ce@example.org"},
            }
            response = await api.post("/api/v1/appeals", headers=citizen, json=body)
            assert response.status_code == 201, response.text
            return dict(response.json())

        async def reach(appeal: dict[str, Any], status: str) -> None:
            async def reached() -> bool:
                found = (await api.get(f"/api/v1/appeals/{appeal['id']}", headers=citizen)).json()
                return bool(found["status"] == status and found.get("due_at"))

            await eventually(reached, timeout=90, interval=0.5)

        async def act(appeal: dict[str, Any], action: str, who: dict[str, str], body: Any = None) -> None:
            response = await api.post(f"/api/v1/appeals/{appeal['id']}/{action}", headers=who, json=body)
            assert response.status_code == 200, f"{action}: {response.text}"

        # A one-minute deadline: armed, warned, overdue; then the citizen escalates it.
        short = await submit("dev.short_sla", "Демонстрация короткого срока: яма у школы.")
        lighting = "Фонарь у дома 12 по улице Садовой не горит уже неделю."
        answered = await submit("landscaping.street_lighting", lighting)
        await reach(answered, "routed")
        await submit("landscaping.street_lighting", lighting)  # the same again: rejected
        # Taken, clarified, extended, answered, rated low, re-reviewed, answered, rated, closed.
        await act(answered, "take", operator)
        await act(answered, "clarification-request", operator, {"question": "Какой номер опоры?"})
        await act(answered, "comments", citizen, {"text": "Опора № 7."})
        await act(answered, "extend", operator, {"days": 3, "reason": "Нужна автовышка"})
        await act(answered, "answer", operator, {"text": "Лампа заменена."})
        await act(answered, "rating", citizen, {"score": 2})
        await act(answered, "take", operator)
        await act(answered, "answer", operator, {"text": "Светильник заменён целиком."})
        await act(answered, "rating", citizen, {"score": 5})
        # "Not ours": back to routing.
        other = await submit("landscaping.street_lighting", "Не работает светофор на перекрёстке.")
        await reach(other, "routed")
        await act(other, "reassign", operator, {"reason": "Светофоры обслуживает ГИБДД"})
        # A social-media incident and the organisation's first public reply (incident.responded).
        monitor = await bearer(api, "ce-monitor", "monitor")
        post = {
            "network": "vk",
            "post_url": "https://vk.com/wall-5_1",
            "author_handle": "ce_resident",
            "text": "Не горит фонарь у дома 3 по улице Мира",
            "topic": "landscaping.street_lighting",
            "location": {"lat": 57.65, "lon": 43.77},
            "found_at": datetime.now(UTC).isoformat(),
        }
        created = await api.post("/api/v1/incidents", headers=monitor, json=post)
        assert created.status_code == 201, created.text
        incident = dict(created.json())

        async def incident_routed() -> bool:
            found = (await api.get(f"/api/v1/appeals/{incident['id']}", headers=operator)).json()
            return bool(found.get("status") == "routed")

        await eventually(incident_routed, timeout=90, interval=0.5)
        await act(incident, "first-response", operator, {"text": "Проверим сегодня."})

        async def overdue() -> bool:
            found = (await api.get(f"/api/v1/appeals/{short['id']}", headers=citizen)).json()
            return bool(found.get("overdue"))

        # A hearing published for a municipality, closed by its own timer a few seconds later.
        poll = {
            "title": "Скамейки на набережной",
            "questions": [{"text": "Нужны ли скамейки?", "kind": "single", "options": ["Да", "Нет"]}],
            "area_ids": ["demograd"],
            "closes_at": (datetime.now(UTC) + timedelta(seconds=5)).isoformat(),
        }
        draft = await api.post("/api/v1/polls", headers=operator, json=poll)
        assert draft.status_code == 201, draft.text
        published = await api.post(f"/api/v1/polls/{draft.json()['id']}/publish", headers=operator)
        assert published.status_code == 200, published.text
        # Another one published and then cancelled by its organisation (poll.cancelled).
        dropped = await api.post(
            "/api/v1/polls", headers=operator, json={**poll, "title": "Отменённое голосование"}
        )
        assert dropped.status_code == 201, dropped.text
        for step in ("publish", "cancel"):
            done = await api.post(f"/api/v1/polls/{dropped.json()['id']}/{step}", headers=operator)
            assert done.status_code == 200, done.text

        await eventually(overdue, timeout=180, interval=1.0)
        await act(short, "escalate", citizen)

    def seen() -> set[str]:
        return {message.routing_key for message in received}

    async def every_type_seen() -> set[str] | None:
        return seen() if seen() >= EVERY_TYPE else None

    try:
        await eventually(every_type_seen, timeout=120, interval=0.5)
    except AssertionError as exc:
        raise AssertionError(f"never emitted: {sorted(EVERY_TYPE - seen())}") from exc

    refused = []
    for message in list(received):
        sdk_message = as_sdk_message(message)
        try:
            event = rabbitmq.from_rabbitmq(sdk_message, JSONFormat(), CloudEvent)  # mode by content type
            structured = rabbitmq.from_structured(sdk_message, JSONFormat(), CloudEvent)
        except Exception as exc:  # any refusal of the SDK is a failure of ours
            refused.append(f"{message.routing_key}: {type(exc).__name__}: {exc}")
            continue
        assert message.content_type == "application/cloudevents+json"
        assert event.get_attributes() == structured.get_attributes()
        assert event.get_specversion() == "1.0"
        assert event.get_type() == message.routing_key
        assert event.get_id() == message.message_id
        assert event.get_extension("correlationid")
        version = event.get_extension("dataversion")
        assert (event.get_type(), version) in PAYLOADS
        decode_payload(parse_envelope(message.body))  # and our own consumers read it
    assert refused == []
    assert len(received) >= len(EVERY_TYPE)
