"""notify's one table of who is told what (`messages.TABLE`): the handlers, the webhook offer and the
texts follow from it; one event reads the appeal's record at most once; a new row is a new
notification."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx

from libs.common.clock import ManualClock
from libs.common.contracts.notify import WebhookCreate, WebhookScope
from libs.common.events import (
    AppealRatedV1,
    AppealTakenV1,
    EventType,
    IncidentRespondedV1,
    SourcePost,
    TimerKind,
    decode_payload,
    new_event,
)
from services.notify.app import create_app
from services.notify.handlers import handlers
from services.notify.messages import CHANNELS, TABLE, WEBHOOK_EVENTS, Message, Row, To
from services.notify.schemas import (
    DELIVERY_TRANSITIONS,
    ChannelName,
    DeliveryStatus,
    NotificationKind,
    delivery_sources,
)
from services.notify.settings import NotifySettings
from services.notify.texts import TEXTS
from tests.unit.store_fakes import CountingDb
from tests.unit.test_notify_handlers import (
    NOW,
    FakeRelay,
    Notify,
    armed,
    fact_event,
    first_routed,
    notify,
    submitted,
)

__all__ = ["notify"]  # the fixture


def test_the_consumer_handles_exactly_the_tables_events(notify: Notify) -> None:
    consumer = notify.app.state.runtime.consumer
    assert set(consumer.handlers) == {row.event for row in TABLE if not row.retired}  # bound
    assert set(consumer.retired) == {row.event for row in TABLE if row.retired}  # unbound on start
    assert len({row.event for row in TABLE}) == len(TABLE)  # one row per event


def test_every_kind_is_made_by_one_row_and_has_its_texts() -> None:
    kinds = [message.kind for row in TABLE if not row.retired for message in row.messages]
    assert sorted(kinds) == sorted(NotificationKind)
    for kind in kinds:
        assert set(TEXTS[kind]) == {"ru", "en"}
    assert all(ChannelName.FEED in channels for channels in CHANNELS.values())
    assert ChannelName.PUSH not in CHANNELS[To.SUPERVISOR]


def test_webhooks_are_offered_the_tables_webhook_rows_never_the_submission() -> None:
    assert set(WEBHOOK_EVENTS) == {row.event for row in TABLE if row.webhooks}
    assert EventType.APPEAL_SUBMITTED not in WEBHOOK_EVENTS
    assert EventType.APPEAL_ANSWERED in WEBHOOK_EVENTS


async def test_each_event_reads_the_appeals_record_once(notify: Notify) -> None:
    flows = notify.app.state.flows
    counting = CountingDb(flows._db)
    flows._db = counting
    await notify.deliver(submitted())
    assert counting.calls == ["recipients.update_one"]  # remembered, nothing to read
    counting.calls.clear()
    await notify.deliver(first_routed())  # remembered and read back in one round trip
    assert counting.calls[0] == "recipients.find_one_and_update"
    assert "recipients.find_one" not in counting.calls  # the registration e-mail reads no more
    counting.calls.clear()
    await notify.deliver(armed(timer=TimerKind.FIRST_RESPONSE))  # tells nobody: reads nothing
    assert counting.calls == []
    await notify.deliver(fact_event(EventType.APPEAL_TAKEN, AppealTakenV1, operator_id="op-1"))
    assert counting.calls == ["recipients.find_one"]  # the organisation's name may have changed: read


async def test_a_new_row_is_a_new_notification(notify: Notify) -> None:
    """What adding an event takes: one row (here appeal.rated tells the author, reusing a text)."""
    row = Row(EventType.APPEAL_RATED, (Message(NotificationKind.CLOSED, To.AUTHOR),))
    [handler] = handlers(notify.app.state.flows, [row]).values()
    await notify.deliver(submitted())
    event = fact_event(EventType.APPEAL_RATED, AppealRatedV1, score=5)
    await handler(event, decode_payload(event))
    [item] = await notify.feed()
    assert item["kind"] == "closed" and item["owner"] == "user:citizen-1"
    assert len(notify.relay.sent) == 1 and "2026-000123" in str(notify.relay.sent[0]["Subject"])


async def test_the_feed_item_is_its_own_record_and_deliveries_are_recorded_claimed(notify: Notify) -> None:
    await notify.deliver(submitted())
    event = first_routed()
    await notify.deliver(event)
    await notify.deliver(event)  # redelivered
    assert await notify.db["deliveries"].count_documents({"channel": "feed"}) == 0
    assert len(await notify.feed()) == 1
    [email] = await notify.db["deliveries"].find({"channel": "email"}).to_list()
    assert email["status"] == "sent" and email["attempts"] == 1 and "lease_until" not in email
    assert len(notify.relay.sent) == 1


def test_the_delivery_lifecycle() -> None:
    S = DeliveryStatus
    assert set(DELIVERY_TRANSITIONS) == {None, *S}
    assert DELIVERY_TRANSITIONS[S.SENT] == frozenset()  # sent is final
    assert delivery_sources(S.SENT) == [S.PENDING]  # only the worker holding it settles it
    assert delivery_sources(S.UNDELIVERABLE) == [S.DEFERRED, S.PENDING]
    assert S.PENDING not in DELIVERY_TRANSITIONS[S.UNDELIVERABLE]  # no redelivery sends it again
    assert DELIVERY_TRANSITIONS[S.UNDELIVERABLE] == {S.DEFERRED}  # only an admin's retry


async def test_an_undeliverable_email_waits_for_an_admin_who_can_requeue_it(notify: Notify) -> None:
    await notify.deliver(submitted(email="not an address"))
    await notify.deliver(first_routed())
    engine = notify.app.state.flows.engine
    failed, total = await engine.failed(10, 0)
    assert total == 1 and failed[0]["status"] == "undeliverable"
    assert await engine.requeue(failed[0]["_id"])
    doc = await notify.db["deliveries"].find_one({"_id": failed[0]["_id"]})
    assert doc is not None and doc["status"] == "deferred" and doc["attempts"] == 0


async def test_an_event_only_for_webhooks_reaches_the_monitors_social_webhook() -> None:
    """incident.responded is one row (`webhooks=True`, no message): its connector's hook gets it."""
    received: list[dict[str, Any]] = []

    def hook(request: httpx.Request) -> httpx.Response:
        received.append(json.loads(request.content))
        return httpx.Response(204)

    settings = NotifySettings(
        env="dev", namespace=f"unit-{uuid.uuid4().hex[:8]}", mongo_url=None, allow_loopback_targets=True
    )
    app = create_app(
        settings, clock=ManualClock(NOW), transport=FakeRelay(), webhook_transport=httpx.MockTransport(hook)
    )
    notify = Notify(app, FakeRelay(), ManualClock(NOW))
    await app.state.flows.registry.add_webhook(
        WebhookCreate(
            url="http://127.0.0.1:9/hook", scope=WebhookScope.SOCIAL, created_by="m1", monitor_id="m1"
        )
    )
    post = SourcePost(network="vk", url="https://vk.com/wall1_2", author_handle="resident", found_at=NOW)
    incident = decode_payload(submitted()).model_copy(
        update={"channel": "social", "author_id": "m1", "source_post": post}
    )
    await notify.deliver(
        new_event(EventType.APPEAL_SUBMITTED, incident, source="intake", subject="a1", correlation_id="c")
    )
    reply = fact_event(EventType.INCIDENT_RESPONDED, IncidentRespondedV1, operator_id="op", text="Едем")
    await notify.deliver(reply)
    [body] = received
    assert body["event"]["type"] == "incident.responded" and body["event"]["data"]["text"] == "Едем"
    assert body["appeal"]["source_post"]["url"] == "https://vk.com/wall1_2"
    assert await notify.feed("m1") == []  # no message: webhooks only
