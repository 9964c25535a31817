"""notify end to end in-process: real RabbitMQ, a real SMTP sink on loopback, the app's lifespan."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import aio_pika
import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY

from devstack.mailsink import MailSink, free_port
from libs.common.events import (
    AppealRoutedV1,
    AppealSubmittedV1,
    Envelope,
    EventType,
    Location,
    OrganizationRef,
    new_event,
)
from libs.common.messaging import EventBus, create_broker
from libs.common.settings import DEV_SECRET
from libs.common.store import Database
from libs.common.topology import Topology
from services.notify.app import create_app
from services.notify.settings import NotifySettings
from tests.infra import eventually

pytestmark = pytest.mark.integration

AUTHOR = "citizen-42"
ADDRESS = "citizen42@example.org"
ORG = "ГБУ «Жилищник района Хамовники»"
QUIET = 0.7  # after the last event is handled, long enough for a stray second e-mail to show up


@dataclass
class Running:
    app: FastAPI
    db: Database
    http: httpx.AsyncClient
    bus: EventBus

    async def publish(self, envelope: Envelope) -> None:
        await self.bus.publish(envelope)


@asynccontextmanager
async def running_notify(
    rabbit_url: str, mongo_url: str | None, namespace: str, smtp_port: int, **overrides: Any
) -> AsyncIterator[Running]:
    settings = NotifySettings(
        env="dev",
        namespace=namespace,
        rabbit_url=rabbit_url,
        mongo_url=mongo_url,
        smtp_port=smtp_port,
        smtp_timeout=2,
        **{
            "retry_backoff_seconds": 0.2,
            "max_attempts": 6,
            "delivery_retry_seconds": 0.2,
            "delivery_retry_max_seconds": 0.5,
            "deferred_poll_seconds": 0.1,
            **overrides,
        },
    )
    app = create_app(settings)
    publisher = create_broker(rabbit_url, prefetch=8)
    try:
        async with app.router.lifespan_context(app):
            await publisher.connect()
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://notify") as http:
                yield Running(app, app.state.runtime.db, http, EventBus(publisher, Topology(namespace)))
    finally:
        await publisher.stop()
        await _delete_namespace(rabbit_url, namespace)


async def _delete_namespace(rabbit_url: str, namespace: str) -> None:
    """Durable names outlive the test: remove them so a shared dev broker does not fill up."""
    connection = await aio_pika.connect(rabbit_url)
    async with connection:
        channel = await connection.channel()
        for queue in (f"{namespace}.notify", f"{namespace}.notify.retry", f"{namespace}.notify.dlq"):
            await channel.queue_delete(queue)
        for exchange in (f"{namespace}.events", f"{namespace}.dlx"):
            await channel.exchange_delete(exchange)


def submitted(
    appeal_id: str, number: str, channel: str = "web", source_post: Any = None, email: str = ADDRESS
) -> Envelope:
    payload = AppealSubmittedV1(
        appeal_id=appeal_id,
        number=number,
        kind="complaint",
        channel=channel,
        source_post=source_post,
        topic="roads",
        summary="Яма во дворе",
        description="Глубокая яма у подъезда",
        location=Location(lat=55.73, lon=37.58, address="Москва, ул. Тимура Фрунзе, 11"),
        author_id=AUTHOR,
        contact_email=email,
        submitted_at=datetime.now(UTC),
    )
    return new_event(
        EventType.APPEAL_SUBMITTED, payload, source="intake", subject=appeal_id, correlation_id="c1"
    )


def first_routed(appeal_id: str, number: str) -> Envelope:
    """The appeal's first routing: it announces the answer's due date (the "registered" e-mail)."""
    payload = AppealRoutedV1(
        appeal_id=appeal_id,
        number=number,
        topic="roads",
        organization=OrganizationRef(id="org-7", name=ORG),
        rule="r",
        answer_sla_days=30,
        timezone="Europe/Moscow",
        routed_at=datetime.now(UTC),
        answer_due_at=datetime(2026, 12, 24, 20, 59, 59, tzinfo=UTC),
    )
    return new_event(
        EventType.APPEAL_ROUTED, payload, source="routing", subject=appeal_id, correlation_id="c1"
    )


def handled(event_type: str) -> Callable[[], float]:
    """How many events of this type notify has handled in this process (the consumer's counter)."""

    def count() -> float:
        labels = {"service": "notify", "type": event_type, "outcome": "handled"}
        return REGISTRY.get_sample_value("appeals_messages_total", labels) or 0.0

    return count


async def wait_handled(counter: Callable[[], float], target: float) -> None:
    async def reached() -> bool:
        return counter() >= target

    await eventually(reached, timeout=15)


def text_of(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


async def test_registered_email_and_feed_once(rabbit_url: str, mongo_url: str | None, namespace: str) -> None:
    sink = MailSink("127.0.0.1", free_port())
    sink.start()
    routed_count = handled(EventType.APPEAL_ROUTED)
    try:
        async with running_notify(rabbit_url, mongo_url, namespace, sink.port) as notify:
            first = first_routed("appeal-1", "2026-000777")
            await notify.publish(submitted("appeal-1", "2026-000777"))
            await notify.publish(first)

            [message] = await sink.wait_for(lambda msgs: len(msgs) >= 1, timeout=15)
            assert message["To"] == ADDRESS
            assert "2026-000777" in message["Subject"]
            assert "2026-000777" in text_of(message) and ORG in text_of(message)
            assert "24.12.2026" in text_of(message)
            html = message.get_body(("html",))
            assert html is not None and "ГБУ «Жилищник района Хамовники»" in str(html.get_content())

            response = await notify.http.get(
                f"/internal/feed/{AUTHOR}", headers={"X-Internal-Token": DEV_SECRET}
            )
            assert response.status_code == 200
            page = response.json()
            assert page["total"] == 1 and page["unread"] == 1
            [item] = page["items"]
            assert item["appeal_id"] == "appeal-1" and item["kind"] == "registered"
            assert ORG in item["body"]

            # The same envelope again (a redelivery), then a re-arm with a new event id.
            before = routed_count()
            await notify.publish(first)
            await notify.publish(first_routed("appeal-1", "2026-000777"))
            await wait_handled(routed_count, before + 2)
            await asyncio.sleep(QUIET)  # a bounded quiet period: nothing more may arrive
            assert len(sink.snapshot()) == 1
            page = (
                await notify.http.get(f"/internal/feed/{AUTHOR}", headers={"X-Internal-Token": DEV_SECRET})
            ).json()
            assert page["total"] == 1
    finally:
        sink.stop()


async def test_email_waits_for_smtp_to_come_up(
    rabbit_url: str, mongo_url: str | None, namespace: str
) -> None:
    sink = MailSink("127.0.0.1", free_port())  # not started yet: the relay is down
    try:
        async with running_notify(rabbit_url, mongo_url, namespace, sink.port) as notify:
            await notify.publish(submitted("appeal-2", "2026-000778"))
            await notify.publish(first_routed("appeal-2", "2026-000778"))

            async def email_deferred() -> bool:
                doc = await notify.db["deliveries"].find_one({"_id": f"appeal-2:registered:email:{AUTHOR}"})
                return doc is not None and doc["status"] == "deferred"

            await eventually(email_deferred, timeout=15)
            # The feed does not wait for the e-mail.
            page = (
                await notify.http.get(f"/internal/feed/{AUTHOR}", headers={"X-Internal-Token": DEV_SECRET})
            ).json()
            assert page["total"] == 1

            sink.start()
            [message] = await sink.wait_for(lambda msgs: len(msgs) >= 1, timeout=15)
            assert "2026-000778" in message["Subject"]

            async def email_sent() -> bool:
                doc = await notify.db["deliveries"].find_one({"_id": f"appeal-2:registered:email:{AUTHOR}"})
                return doc is not None and doc["status"] == "sent"

            await eventually(email_sent, timeout=5)
            await asyncio.sleep(QUIET)
            assert len(sink.snapshot()) == 1
    finally:
        sink.stop()


async def test_smtp_never_up_is_parked_for_an_admin_after_its_window_not_dead_lettered(
    rabbit_url: str, mongo_url: str | None, namespace: str
) -> None:
    port = free_port()  # nobody listens here
    async with running_notify(
        rabbit_url, mongo_url, namespace, port, delivery_retry_window_hours=1.5 / 3600
    ) as notify:
        routed_count = handled(EventType.APPEAL_ROUTED)
        before = routed_count()
        await notify.publish(submitted("appeal-3", "2026-000779"))
        await notify.publish(first_routed("appeal-3", "2026-000779"))
        await wait_handled(routed_count, before + 1)  # acked once the e-mail's retries are stored

        async def parked() -> Any:
            doc = await notify.db["deliveries"].find_one({"_id": f"appeal-3:registered:email:{AUTHOR}"})
            return doc if doc is not None and doc["status"] == "failed" else None

        delivery = await eventually(parked, timeout=15)
        assert delivery["attempts"] >= 3 and "gave up after" in delivery["error"]
        assert ADDRESS not in delivery["error"]  # no personal data in the admin's view or logs
        page = (
            await notify.http.get("/internal/dead-letters", headers={"X-Internal-Token": DEV_SECRET})
        ).json()
        assert [item["id"] for item in page["items"]] == [f"appeal-3:registered:email:{AUTHOR}"]
        connection = await aio_pika.connect(rabbit_url)
        async with connection:  # the event itself was handled, not dead-lettered
            channel = await connection.channel()
            queue = await channel.get_queue(f"{namespace}.notify.dlq")
            assert await queue.get(fail=False, no_ack=True) is None


async def test_a_relay_that_refuses_then_accepts_gets_the_email_without_an_admin(
    rabbit_url: str, mongo_url: str | None, namespace: str
) -> None:
    sink = MailSink("127.0.0.1", free_port())
    sink.refuse_with = "451 4.3.0 Mail server temporarily rejected message"
    sink.start()
    try:
        # The event's own retry budget (2 attempts) is far shorter than the outage.
        async with running_notify(
            rabbit_url, mongo_url, namespace, sink.port, max_attempts=2, retry_backoff_seconds=0.05
        ) as notify:
            await notify.publish(submitted("appeal-4", "2026-000780"))
            await notify.publish(first_routed("appeal-4", "2026-000780"))
            key = f"appeal-4:registered:email:{AUTHOR}"

            async def retried_a_few_times() -> bool:
                doc = await notify.db["deliveries"].find_one({"_id": key})
                return doc is not None and doc["status"] == "deferred" and doc["attempts"] >= 3

            await eventually(retried_a_few_times, timeout=15)
            assert sink.snapshot() == []
            sink.refuse_with = None  # the relay is back
            [message] = await sink.wait_for(lambda msgs: len(msgs) >= 1, timeout=15)
            assert "2026-000780" in message["Subject"]

            async def sent() -> bool:
                doc = await notify.db["deliveries"].find_one({"_id": key})
                return doc is not None and doc["status"] == "sent"

            await eventually(sent, timeout=5)
            await asyncio.sleep(QUIET)
            assert len(sink.snapshot()) == 1
            assert (
                await notify.http.get("/internal/dead-letters", headers={"X-Internal-Token": DEV_SECRET})
            ).json()["total"] == 0
    finally:
        sink.stop()


@pytest.mark.parametrize(
    ("address", "envelope_to"),
    [("иван@example.org", "иван@example.org"), ("user@пример.рф", "user@xn--e1afmkfd.xn--p1ai")],
)
async def test_internationalised_addresses_arrive_over_smtputf8(
    rabbit_url: str, mongo_url: str | None, namespace: str, address: str, envelope_to: str
) -> None:
    sink = MailSink("127.0.0.1", free_port(), smtputf8=True)
    sink.start()
    try:
        async with running_notify(rabbit_url, mongo_url, namespace, sink.port, mail_smtputf8=True) as notify:
            await notify.publish(submitted("appeal-5", "2026-000781", email=address))
            await notify.publish(first_routed("appeal-5", "2026-000781"))
            [message] = await sink.wait_for(lambda msgs: len(msgs) >= 1, timeout=15)
            assert message["To"] == envelope_to
            assert sink.recipients == [[envelope_to]]

            async def sent() -> bool:  # settled just after the relay accepted it
                doc = await notify.db["deliveries"].find_one({"_id": f"appeal-5:registered:email:{AUTHOR}"})
                return doc is not None and doc["status"] == "sent"

            await eventually(sent, timeout=5)
    finally:
        sink.stop()


async def test_a_relay_without_smtputf8_fails_such_an_address_at_once_and_says_why(
    rabbit_url: str, mongo_url: str | None, namespace: str
) -> None:
    """A misconfiguration (APPEALS_MAIL_SMTPUTF8 set, the relay lacks it): no 24 h of retries."""
    sink = MailSink("127.0.0.1", free_port(), smtputf8=False)
    sink.start()
    try:
        async with running_notify(rabbit_url, mongo_url, namespace, sink.port, mail_smtputf8=True) as notify:
            await notify.publish(submitted("appeal-6", "2026-000782", email="иван@example.org"))
            await notify.publish(first_routed("appeal-6", "2026-000782"))

            async def failed() -> Any:
                doc = await notify.db["deliveries"].find_one({"_id": f"appeal-6:registered:email:{AUTHOR}"})
                return doc if doc is not None and doc["status"] == "undeliverable" else None

            doc = await eventually(failed, timeout=15)
            assert (
                doc["status"] == "undeliverable" and "SMTPUTF8" in doc["error"] and "иван" not in doc["error"]
            )
            assert sink.snapshot() == []
    finally:
        sink.stop()
