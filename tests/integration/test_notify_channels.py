"""notify's webhooks and quiet hours in-process over the real RabbitMQ, against real local
endpoints: the dev webhook sink that checks signatures, and the SMTP sink (push:
test_notify_push.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from devstack.mailsink import MailSink, free_port
from devstack.webhook_sink import WebhookSink
from libs.common.clock import ManualClock
from libs.common.events import (
    AppealAnsweredV1,
    AppealRoutedV1,
    DeadlineOverdueV1,
    Envelope,
    EventType,
    OrganizationRef,
    SourcePost,
    TimerKind,
    new_event,
)
from libs.common.messaging import EventBus, create_broker
from libs.common.settings import DEV_SECRET
from libs.common.topology import Topology
from services.notify.app import create_app
from services.notify.settings import NotifySettings
from tests.infra import eventually
from tests.integration.test_notify_smtp import (
    ADDRESS,
    AUTHOR,
    QUIET,
    _delete_namespace,
    first_routed,
    handled,
    submitted,
    wait_handled,
)

pytestmark = pytest.mark.integration

AUTH = {"X-Internal-Token": DEV_SECRET}
ORG = OrganizationRef(id="org-7", name="Управа района <b>Хамовники</b>")
SECRET = "a-webhook-secret-of-enough-length"
SUBJECT = "mailto:ops@appeals.test"


@dataclass
class Notify:
    http: httpx.AsyncClient
    bus: EventBus
    db: Any

    async def publish(self, envelope: Envelope) -> None:
        await self.bus.publish(envelope)


@asynccontextmanager
async def running(
    rabbit_url: str, mongo_url: str | None, namespace: str, clock: ManualClock | None = None, **overrides: Any
) -> AsyncIterator[Notify]:
    settings = NotifySettings(
        env="dev",
        namespace=namespace,
        rabbit_url=rabbit_url,
        mongo_url=mongo_url,
        vapid_subject=SUBJECT,
        allow_loopback_targets=True,  # the test receivers listen on loopback
        **{
            "retry_backoff_seconds": 0.1,
            "max_attempts": 5,
            "deferred_poll_seconds": 0.1,
            "delivery_retry_seconds": 0.1,
            "delivery_retry_max_seconds": 0.2,
            **overrides,
        },
    )
    app = create_app(settings, clock=clock) if clock else create_app(settings)
    publisher = create_broker(rabbit_url, prefetch=8)
    try:
        async with app.router.lifespan_context(app):
            await publisher.connect()
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://notify", headers=AUTH) as http:
                yield Notify(http, EventBus(publisher, Topology(namespace)), app.state.runtime.db)
    finally:
        await publisher.stop()
        await _delete_namespace(rabbit_url, namespace)


def event(event_type: EventType, payload: Any, appeal_id: str) -> Envelope:
    return new_event(event_type, payload, source="test", subject=appeal_id, correlation_id="c1")


def routed(appeal_id: str, number: str) -> Envelope:
    payload = AppealRoutedV1(
        appeal_id=appeal_id,
        number=number,
        topic="roads.potholes",
        organization=ORG,
        rule="test",
        answer_sla_days=30,
        routed_at=datetime.now(UTC),
        timezone="Europe/Moscow",
    )
    return event(EventType.APPEAL_ROUTED, payload, appeal_id)


async def test_webhooks_are_signed_retried_and_delivered_once(
    rabbit_url: str, mongo_url: str | None, namespace: str
) -> None:
    sink = WebhookSink(port=0, secret=SECRET, fail_first=2)  # the receiver is down for two tries
    routed_count = handled(EventType.APPEAL_ROUTED)
    with sink:
        async with running(rabbit_url, mongo_url, namespace, channels="feed,webhook") as notify:
            hook = {"url": sink.url, "org_id": ORG.id, "secret": SECRET, "created_by": "op-1"}
            response = await notify.http.post("/internal/webhooks", json=hook)
            assert response.status_code == 201, response.text
            social = {"url": sink.url, "scope": "social", "secret": SECRET, "created_by": "monitor-1"}
            assert (await notify.http.post("/internal/webhooks", json=social)).status_code == 201

            post = SourcePost(
                network="vk", url="https://vk.com/wall-1_2", author_handle="id42", found_at=datetime.now(UTC)
            )
            first = routed("appeal-w", "2026-000902")
            await notify.publish(submitted("appeal-w", "2026-000902", channel="social", source_post=post))
            await notify.publish(first)
            # The appeal is the organisation's and came from a social network: both webhooks see it.
            got = await sink.wait_for(lambda events: len(events) >= 2, timeout=15)
            assert sink.attempts >= 4 and sink.refused == 0  # two refused tries, then two deliveries
            assert {e.event_type for e in got} == {"appeal.routed"}
            assert len({e.delivery_id for e in got}) == 2
            assert all(e.body["event"]["id"] == first.id for e in got)
            assert got[0].body["event"]["data"]["organization"]["id"] == ORG.id
            assert sum(1 for e in got if "source_post" in e.body["appeal"]) == 1  # the monitor's only

            # The monitor's webhook takes the organisation's answer back to the social thread.
            answer = AppealAnsweredV1(
                appeal_id="appeal-w",
                number="2026-000902",
                organization=ORG,
                at=datetime.now(UTC),
                operator_id="op-1",
                text="Яму заделаем до пятницы.",
            )
            await notify.publish(event(EventType.APPEAL_ANSWERED, answer, "appeal-w"))
            events = await sink.wait_for(lambda events: len(events) >= 4, timeout=15)
            answered = [e for e in events if e.event_type == "appeal.answered"]
            assert len(answered) == 2  # the organisation's webhook and the monitor's
            monitor = next(e for e in answered if e.body["appeal"].get("source_post"))
            assert monitor.body["appeal"]["source_post"]["url"] == "https://vk.com/wall-1_2"
            assert monitor.body["event"]["data"]["text"] == "Яму заделаем до пятницы."

            before = routed_count()
            await notify.publish(first)  # redelivered
            await wait_handled(routed_count, before + 1)
            await asyncio.sleep(QUIET)
            assert len([e for e in sink.snapshot() if e.event_type == "appeal.routed"]) == 2

            feed = (await notify.http.get("/internal/feed/op-1", params={"org_id": ORG.id})).json()
            assert [item["kind"] for item in feed["items"]] == ["new_appeal"]


async def test_a_webhook_that_keeps_failing_is_parked_after_its_window_and_can_be_retried(
    rabbit_url: str, mongo_url: str | None, namespace: str
) -> None:
    sink = WebhookSink(port=0, secret=SECRET, fail_first=1000)
    with sink:
        async with running(
            rabbit_url,
            mongo_url,
            namespace,
            channels="feed,webhook",
            delivery_retry_seconds=0.05,
            delivery_retry_max_seconds=0.1,
            delivery_retry_window_hours=1 / 3600,
        ) as notify:
            hook = {"url": sink.url, "org_id": ORG.id, "secret": SECRET, "created_by": "admin-1"}
            assert (await notify.http.post("/internal/webhooks", json=hook)).status_code == 201
            await notify.publish(routed("appeal-d", "2026-000903"))

            async def listed() -> list[dict[str, Any]]:
                page = (await notify.http.get("/internal/dead-letters")).json()
                return [
                    item for item in page["items"] if item["channel"] == "webhook" and item["attempts"] >= 3
                ]

            [dead] = await eventually(listed, timeout=15)
            # a neutral category: the receiver's status code is never echoed
            assert dead["error"].endswith(": webhook failed temporarily (server error or busy)")
            assert "503" not in str(dead) and dead["event_type"] == "appeal.routed"
            assert dead["appeal_id"] == "appeal-d" and dead["permanent"] is False

            sink._fail_first = 0  # the receiver is fixed; an admin retries
            assert (await notify.http.post(f"/internal/dead-letters/{dead['id']}/retry")).status_code == 202
            [got] = await sink.wait_for(lambda events: len(events) == 1, timeout=10)
            assert got.delivery_id == dead["id"]


async def test_quiet_hours_defer_non_urgent_mail_but_not_alerts(
    rabbit_url: str, mongo_url: str | None, namespace: str
) -> None:
    night = ManualClock(datetime(2026, 3, 2, 20, 30, tzinfo=UTC))  # 23:30 in Moscow
    sink = MailSink("127.0.0.1", free_port())
    with sink:
        async with running(
            rabbit_url, mongo_url, namespace, clock=night, channels="feed,email", smtp_port=sink.port
        ) as notify:
            quiet = {"start": "22:00", "end": "08:00", "timezone": "Europe/Moscow"}
            response = await notify.http.put(f"/internal/preferences/{AUTHOR}", json={"quiet_hours": quiet})
            assert response.status_code == 200, response.text
            contacts = {"supervisor_emails": ["chief@org7.example"], "quiet_hours": quiet}
            assert (
                await notify.http.put(f"/internal/organizations/{ORG.id}/contacts", json=contacts)
            ).status_code == 200

            await notify.publish(submitted("appeal-q", "2026-000904"))
            await notify.publish(first_routed("appeal-q", "2026-000904"))

            async def deferred() -> dict[str, Any] | None:
                doc = await notify.db["deliveries"].find_one({"_id": f"appeal-q:registered:email:{AUTHOR}"})
                return doc if doc and doc["status"] == "deferred" else None

            waiting = await eventually(deferred, timeout=15)
            assert waiting["not_before"].astimezone(UTC) == datetime(2026, 3, 3, 5, 0, tzinfo=UTC)
            feed = (await notify.http.get(f"/internal/feed/{AUTHOR}")).json()
            assert feed["total"] == 1  # the feed does not wait for the morning

            # An overdue alert is urgent: it wakes the supervisor now.
            overdue = DeadlineOverdueV1(
                appeal_id="appeal-q",
                number="2026-000904",
                timer=TimerKind.ANSWER,
                due_at=night() - timedelta(hours=1),
                organization=ORG,
                overdue_at=night(),
            )
            await notify.publish(event(EventType.DEADLINE_OVERDUE, overdue, "appeal-q"))
            [alert] = await sink.wait_for(lambda msgs: len(msgs) >= 1, timeout=15)
            assert alert["To"] == "chief@org7.example" and alert["Importance"] == "high"
            assert "2026-000904" in alert["Subject"]
            await asyncio.sleep(QUIET)
            assert len(sink.snapshot()) == 1  # the citizen's mail still waits

            night.advance(timedelta(hours=8, minutes=31))  # 08:01 in Moscow
            messages = await sink.wait_for(lambda msgs: len(msgs) >= 2, timeout=15)
            assert messages[1]["To"] == ADDRESS and "зарегистрировано" in messages[1]["Subject"]
            await asyncio.sleep(QUIET)
            assert len(sink.snapshot()) == 2


async def test_a_monitors_webhook_receives_only_the_incidents_it_reported(
    rabbit_url: str, mongo_url: str | None, namespace: str
) -> None:
    """Issue 13: monitor M1's webhook received the events of monitor M2's incidents."""
    routed_count = handled(EventType.APPEAL_ROUTED)
    mine, theirs = WebhookSink(port=0, secret=SECRET), WebhookSink(port=0, secret=SECRET)
    with mine, theirs:
        async with running(rabbit_url, mongo_url, namespace, channels="feed,webhook") as notify:
            hooks = {}
            for sink, monitor in ((mine, AUTHOR), (theirs, "monitor-2")):
                hook = {
                    "url": sink.url,
                    "scope": "social",
                    "secret": SECRET,
                    "created_by": monitor,
                    "monitor_id": monitor,
                }
                created = await notify.http.post("/internal/webhooks", json=hook)
                assert created.status_code == 201, created.text
                hooks[monitor] = created.json()["id"]
            post = SourcePost(
                network="vk", url="https://vk.com/wall-1_9", author_handle="id9", found_at=datetime.now(UTC)
            )
            # The incident was reported by AUTHOR (a monitoring connector is its appeal's author).
            before = routed_count()
            await notify.publish(submitted("appeal-m", "2026-000909", channel="social", source_post=post))
            await notify.publish(routed("appeal-m", "2026-000909"))
            [got] = await mine.wait_for(lambda events: len(events) >= 1, timeout=15)
            assert got.event_type == "appeal.routed" and got.body["appeal"]["id"] == "appeal-m"
            await wait_handled(routed_count, before + 1)
            planned = await notify.db["deliveries"].find({"channel": "webhook"}).to_list(None)
            assert {d["target_id"] for d in planned} == {hooks[AUTHOR]}  # never planned for monitor-2
            assert theirs.snapshot() == []
