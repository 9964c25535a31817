"""notify's event handlers, wired by create_app, over the in-memory store and a fake SMTP relay."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import pytest
from fastapi import FastAPI

from libs.common.clock import ManualClock
from libs.common.events import (
    AppealRejectedV1,
    AppealSubmittedV1,
    DeadlineArmedV1,
    Envelope,
    EventType,
    Location,
    OrganizationRef,
    TimerKind,
    decode_payload,
    new_event,
)
from libs.common.store import Database
from services.notify.app import create_app
from services.notify.channels import PermanentDeliveryError, SmtpTransport
from services.notify.flows import DeliveryFailed, RecipientUnknown
from services.notify.settings import NotifySettings

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


class FakeRelay:
    """Stands in for the SMTP relay: records messages, or fails the next `failures` sends."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []
        self.failures: list[Exception] = []
        self.delay = 0.0

    async def __call__(self, message: EmailMessage) -> None:
        await asyncio.sleep(self.delay)
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(message)


class Notify:
    def __init__(self, app: FastAPI, relay: FakeRelay) -> None:
        self.app = app
        self.relay = relay
        runtime = app.state.runtime
        self.db: Database = runtime.db
        self._handlers = runtime.consumer.handlers

    async def deliver(self, envelope: Envelope) -> None:
        """What the consumer does with one message, minus the broker."""
        handler: Callable[[Envelope, Any], Awaitable[None]] = self._handlers[envelope.type]
        await handler(envelope, decode_payload(envelope))

    async def feed(self, user_id: str = "citizen-1") -> list[dict[str, Any]]:
        return await self.db["feed"].find({"user_id": user_id}).to_list()


@pytest.fixture
def notify() -> Notify:
    relay = FakeRelay()
    settings = NotifySettings(env="dev", namespace=f"unit-{uuid.uuid4().hex[:8]}", mongo_url=None)
    return Notify(create_app(settings, clock=ManualClock(NOW), transport=relay), relay)


def submitted(appeal_id: str = "a1", email: str | None = "citizen@example.org", lang: str = "ru") -> Envelope:
    payload = AppealSubmittedV1(
        appeal_id=appeal_id,
        number="2026-000123",
        kind="complaint",
        channel="web",
        topic="roads",
        summary="Яма",
        description="Яма на дороге",
        location=Location(lat=55.7, lon=37.6, address="Москва"),
        author_id="citizen-1",
        contact_email=email,
        lang=lang,
        submitted_at=NOW,
    )
    return new_event(
        EventType.APPEAL_SUBMITTED, payload, source="intake", subject=appeal_id, correlation_id="c1"
    )


def armed(appeal_id: str = "a1", timer: TimerKind = TimerKind.ANSWER) -> Envelope:
    payload = DeadlineArmedV1(
        appeal_id=appeal_id,
        number="2026-000123",
        timer=timer,
        due_at=datetime(2026, 3, 12, 20, 59, 59, tzinfo=UTC),
        organization=OrganizationRef(id="org-1", name="ГБУ «Жилищник»"),
        armed_at=NOW,
    )
    return new_event(
        EventType.DEADLINE_ARMED, payload, source="deadlines", subject=appeal_id, correlation_id="c1"
    )


def rejected(appeal_id: str = "a1") -> Envelope:
    payload = AppealRejectedV1(
        appeal_id=appeal_id, number="2026-000123", reason_code="spam", reason="реклама", rejected_at=NOW
    )
    return new_event(
        EventType.APPEAL_REJECTED, payload, source="routing", subject=appeal_id, correlation_id="c1"
    )


async def test_registered_goes_to_feed_and_email(notify: Notify) -> None:
    await notify.deliver(submitted())
    await notify.deliver(armed())

    [item] = await notify.feed()
    assert item["kind"] == "registered"
    assert item["read"] is False
    assert "ГБУ «Жилищник»" in item["body"] and "12.03.2026" in item["body"]
    [message] = notify.relay.sent
    assert message["To"] == "citizen@example.org"
    assert message["Subject"] == "Обращение № 2026-000123 зарегистрировано"
    delivery = await notify.db["deliveries"].find_one({"_id": "a1:registered:email:citizen-1"})
    assert delivery is not None and delivery["status"] == "sent"


async def test_registered_only_once_per_appeal(notify: Notify) -> None:
    await notify.deliver(submitted())
    first = armed()
    await notify.deliver(first)
    await notify.deliver(first)  # redelivered
    await notify.deliver(armed())  # re-armed: a new event id
    assert len(notify.relay.sent) == 1
    assert len(await notify.feed()) == 1


async def test_concurrent_duplicates_send_once(notify: Notify) -> None:
    await notify.deliver(submitted())
    notify.relay.delay = 0.3  # both handlers are in flight while the first one sends
    await asyncio.gather(notify.deliver(armed()), notify.deliver(armed()))
    assert len(notify.relay.sent) == 1


async def test_first_response_timer_is_not_a_registration(notify: Notify) -> None:
    await notify.deliver(submitted())
    await notify.deliver(armed(timer=TimerKind.FIRST_RESPONSE))
    assert notify.relay.sent == []
    assert await notify.feed() == []


async def test_unknown_recipient_is_retried_later(notify: Notify) -> None:
    with pytest.raises(RecipientUnknown):
        await notify.deliver(armed())
    await notify.deliver(submitted())
    await notify.deliver(armed())
    assert len(notify.relay.sent) == 1


async def test_submitted_twice_keeps_one_recipient(notify: Notify) -> None:
    event = submitted()
    await notify.deliver(event)
    await notify.deliver(event)
    assert await notify.db["recipients"].count_documents({}) == 1


async def test_english_recipient_gets_english(notify: Notify) -> None:
    await notify.deliver(submitted(lang="en"))
    await notify.deliver(armed())
    assert notify.relay.sent[0]["Subject"] == "Appeal No. 2026-000123 registered"


async def test_no_email_address_means_feed_only(notify: Notify) -> None:
    await notify.deliver(submitted(email=None))
    await notify.deliver(armed())
    assert notify.relay.sent == []
    assert len(await notify.feed()) == 1


async def test_rejection_is_notified(notify: Notify) -> None:
    await notify.deliver(submitted())
    await notify.deliver(rejected())
    [item] = await notify.feed()
    assert item["kind"] == "rejected"
    assert item["body"] == "Обращение № 2026-000123 отклонено: реклама"
    assert notify.relay.sent[0]["Subject"] == "Обращение № 2026-000123 отклонено"


async def test_smtp_failure_raises_without_personal_data_then_retry_sends_once(notify: Notify) -> None:
    notify.relay.failures.append(aiosmtplib.SMTPConnectError("cannot reach citizen@example.org"))
    await notify.deliver(submitted())
    event = armed()
    with pytest.raises(DeliveryFailed) as failed:
        await notify.deliver(event)
    assert "example.org" not in str(failed.value)
    delivery = await notify.db["deliveries"].find_one({"_id": "a1:registered:email:citizen-1"})
    assert delivery is not None and delivery["status"] == "failed"
    assert len(await notify.feed()) == 1  # the feed did not wait for the e-mail

    await notify.deliver(event)  # the consumer's retry
    await notify.deliver(event)
    assert len(notify.relay.sent) == 1
    assert len(await notify.feed()) == 1


async def test_malformed_address_is_recorded_not_retried(notify: Notify) -> None:
    await notify.deliver(submitted(email="not an address"))
    await notify.deliver(armed())  # no exception: retrying cannot fix the address
    delivery = await notify.db["deliveries"].find_one({"_id": "a1:registered:email:citizen-1"})
    assert delivery is not None and delivery["status"] == "failed" and delivery["permanent"] is True
    await notify.deliver(armed())
    assert notify.relay.sent == []
    assert len(await notify.feed()) == 1


@pytest.mark.parametrize(("code", "permanent"), [(550, True), (450, False)])
async def test_smtp_transport_tells_refusals_apart(
    monkeypatch: pytest.MonkeyPatch, code: int, permanent: bool
) -> None:
    async def refuse(*args: Any, **kwargs: Any) -> None:
        refused = aiosmtplib.SMTPRecipientRefused(code, "no", "citizen@example.org")
        raise aiosmtplib.SMTPRecipientsRefused([refused])

    monkeypatch.setattr(aiosmtplib, "send", refuse)
    transport = SmtpTransport(NotifySettings(env="dev"))
    expected = PermanentDeliveryError if permanent else aiosmtplib.SMTPRecipientsRefused
    with pytest.raises(expected):
        await transport(EmailMessage())
