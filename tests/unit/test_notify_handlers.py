"""notify's event handlers, wired by create_app, over the in-memory store and a fake SMTP relay."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, time, timedelta
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.policy import default as default_policy
from typing import Any

import aiosmtplib
import pytest
from fastapi import FastAPI

from libs.common.clock import ManualClock
from libs.common.contracts.notify import OrgContacts, Preferences, QuietHours
from libs.common.events import (
    AppealAnsweredV1,
    AppealClosedV1,
    AppealRejectedV1,
    AppealRoutedV1,
    AppealSubmittedV1,
    AppealTakenV1,
    ClarificationRequestedV1,
    ClosedReason,
    DeadlineArmedV1,
    DeadlineOverdueV1,
    DeadlineWarningV1,
    Envelope,
    EventType,
    Location,
    OrganizationRef,
    RereviewRequestedV1,
    RoutingReason,
    TimerKind,
    decode_payload,
    new_event,
)
from libs.common.store import Database
from services.notify.app import create_app
from services.notify.channels import PermanentDeliveryError, SmtpTransport
from services.notify.flows import RecipientUnknown
from services.notify.settings import NotifySettings

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


class FakeRelay:
    """Stands in for the SMTP relay: records messages, or fails the next `failures` sends."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []
        self.failures: list[Exception] = []
        self.delay = 0.0

    async def __call__(self, message: Message) -> None:
        await asyncio.sleep(self.delay)
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(received(message))


def received(message: Message) -> EmailMessage:
    """The message as a relay reads it: its bytes, parsed (notify builds compat32 messages)."""
    parsed = BytesParser(policy=default_policy).parsebytes(message.as_bytes())
    assert isinstance(parsed, EmailMessage)
    return parsed


class Notify:
    def __init__(self, app: FastAPI, relay: FakeRelay, clock: ManualClock) -> None:
        self.app = app
        self.relay = relay
        self.clock = clock
        runtime = app.state.runtime
        self.db: Database = runtime.db
        self._handlers = runtime.consumer.handlers
        self._retired = runtime.consumer.retired

    async def deliver(self, envelope: Envelope) -> None:
        """What the consumer does with one message, minus the broker."""
        handler: Callable[[Envelope, Any], Awaitable[None]] = (
            self._handlers.get(envelope.type) or self._retired[envelope.type]
        )
        await handler(envelope, decode_payload(envelope))

    async def feed(self, user_id: str = "citizen-1") -> list[dict[str, Any]]:
        return await self.db["feed"].find({"owner": f"user:{user_id}"}).to_list()


@pytest.fixture
def notify() -> Notify:
    relay = FakeRelay()
    settings = NotifySettings(env="dev", namespace=f"unit-{uuid.uuid4().hex[:8]}", mongo_url=None)
    clock = ManualClock(NOW)
    return Notify(create_app(settings, clock=clock, transport=relay), relay, clock)


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


ORG = OrganizationRef(id="org-1", name="ГБУ «Жилищник»")
DUE = datetime(2026, 3, 12, 20, 59, 59, tzinfo=UTC)  # the end of 12 March in Moscow


def first_routed(appeal_id: str = "a1") -> Envelope:
    """The appeal's first routing: it announces the answer's due date (the "registered" e-mail)."""
    payload = AppealRoutedV1(
        appeal_id=appeal_id,
        number="2026-000123",
        topic="roads",
        organization=ORG,
        rule="r",
        answer_sla_days=10,
        timezone="Europe/Moscow",
        routed_at=NOW,
        answer_due_at=DUE,
    )
    return new_event(
        EventType.APPEAL_ROUTED, payload, source="routing", subject=appeal_id, correlation_id="c1"
    )


def armed(appeal_id: str = "a1", timer: TimerKind = TimerKind.ANSWER) -> Envelope:
    """What announced the due date before the first routing did (notify's retired subscription)."""
    payload = DeadlineArmedV1(
        appeal_id=appeal_id,
        number="2026-000123",
        timer=timer,
        due_at=DUE,
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


async def test_submitted_twice_keeps_one_recipient(notify: Notify) -> None:
    event = submitted()
    await notify.deliver(event)
    await notify.deliver(event)
    assert await notify.db["recipients"].count_documents({}) == 1


async def test_rejection_is_notified(notify: Notify) -> None:
    await notify.deliver(submitted())
    await notify.deliver(rejected())
    [item] = await notify.feed()
    assert item["kind"] == "rejected"
    assert item["body"] == "Обращение № 2026-000123 отклонено: реклама"
    assert notify.relay.sent[0]["Subject"] == "Обращение № 2026-000123 отклонено"


async def test_smtp_failure_is_deferred_without_personal_data_then_sent_once(notify: Notify) -> None:
    notify.relay.failures.append(aiosmtplib.SMTPConnectError("cannot reach citizen@example.org"))
    await notify.deliver(submitted())
    event = first_routed()
    await notify.deliver(event)  # no exception: the event is done once the retry is stored
    delivery = await notify.db["deliveries"].find_one({"_id": "a1:registered:email:citizen-1"})
    assert delivery is not None and delivery["status"] == "deferred"
    assert "example.org" not in delivery["error"]
    assert len(await notify.feed()) == 1  # the feed did not wait for the e-mail

    await notify.deliver(event)  # a redelivered event does not jump the schedule
    engine = notify.app.state.flows.engine
    assert await engine.run_due() == 0 and notify.relay.sent == []
    notify.clock.advance(timedelta(seconds=30))
    assert await engine.run_due() == 1
    await notify.deliver(event)
    assert len(notify.relay.sent) == 1
    assert len(await notify.feed()) == 1


async def test_malformed_address_is_recorded_not_retried(notify: Notify) -> None:
    await notify.deliver(submitted(email="not an address"))
    await notify.deliver(first_routed())  # no exception: retrying cannot fix the address
    delivery = await notify.db["deliveries"].find_one({"_id": "a1:registered:email:citizen-1"})
    assert delivery is not None and delivery["status"] == "undeliverable"
    await notify.deliver(first_routed())
    assert notify.relay.sent == []
    assert len(await notify.feed()) == 1


@pytest.mark.parametrize(("code", "permanent"), [(550, True), (450, False)])
async def test_smtp_transport_tells_refusals_apart(
    monkeypatch: pytest.MonkeyPatch, code: int, permanent: bool
) -> None:
    async def connect(*args: Any, **kwargs: Any) -> None:
        return None

    async def refuse(*args: Any, **kwargs: Any) -> None:
        refused = aiosmtplib.SMTPRecipientRefused(code, "no", "citizen@example.org")
        raise aiosmtplib.SMTPRecipientsRefused([refused])

    monkeypatch.setattr(aiosmtplib.SMTP, "connect", connect)
    monkeypatch.setattr(aiosmtplib.SMTP, "send_message", refuse)
    transport = SmtpTransport(NotifySettings(env="dev"))
    expected = PermanentDeliveryError if permanent else aiosmtplib.SMTPRecipientsRefused
    with pytest.raises(expected):
        await transport(EmailMessage())


def fact_event(event_type: EventType, model: Any, appeal_id: str = "a1", **fields: Any) -> Envelope:
    payload = model(appeal_id=appeal_id, number="2026-000123", organization=ORG, at=NOW, **fields)
    return new_event(event_type, payload, source="intake", subject=appeal_id, correlation_id="c1")


def routed(reason: RoutingReason = RoutingReason.INITIAL, org: OrganizationRef = ORG) -> Envelope:
    payload = AppealRoutedV1(
        appeal_id="a1",
        number="2026-000123",
        topic="roads",
        organization=org,
        rule="r",
        answer_sla_days=10,
        routed_at=NOW,
        reason=reason,
    )
    return new_event(EventType.APPEAL_ROUTED, payload, source="routing", subject="a1", correlation_id="c1")


def registry(notify: Notify) -> Any:
    return notify.app.state.flows.registry


async def test_the_citizen_hears_every_step_once(notify: Notify) -> None:
    await notify.deliver(submitted())
    await notify.deliver(routed())
    steps = [
        fact_event(EventType.APPEAL_TAKEN, AppealTakenV1, operator_id="op-1"),
        fact_event(
            EventType.APPEAL_CLARIFICATION_REQUESTED,
            ClarificationRequestedV1,
            operator_id="op-1",
            question="Какой подъезд?",
        ),
        fact_event(EventType.APPEAL_ANSWERED, AppealAnsweredV1, operator_id="op-1", text="Яму заделали."),
        fact_event(EventType.APPEAL_REREVIEW_REQUESTED, RereviewRequestedV1),
        fact_event(
            EventType.APPEAL_ANSWERED, AppealAnsweredV1, operator_id="op-1", text="Переделали.", round=1
        ),
        fact_event(EventType.APPEAL_CLOSED, AppealClosedV1, reason=ClosedReason.RATED),
    ]
    for step in steps:
        await notify.deliver(step)
        await notify.deliver(step)  # redelivered
    kinds = [item["kind"] for item in sorted(await notify.feed(), key=lambda item: item["created_at"])]
    assert sorted(kinds) == sorted(
        ["taken", "clarification_requested", "answered", "rereview", "answered", "closed"]
    )
    assert len(notify.relay.sent) == 6
    answer = next(
        m for m in notify.relay.sent if "Яму заделали." in str(m.get_body(("plain",)).get_content())
    )
    assert answer["Subject"] == "Получен ответ на обращение № 2026-000123"
    assert "ГБУ «Жилищник»" in str(answer.get_body(("plain",)).get_content())


async def test_new_appeal_reaches_the_organisation_and_a_transfer_the_citizen(notify: Notify) -> None:
    contacts = OrgContacts(operator_emails=["ops@org1.example"], supervisor_emails=["chief@org1.example"])
    await registry(notify).set_org_contacts("org-1", contacts, "admin")
    await notify.deliver(submitted())
    await notify.deliver(routed())
    org_feed = await notify.db["feed"].find({"owner": "org:org-1"}).to_list()
    assert [item["kind"] for item in org_feed] == ["new_appeal"]
    assert [m["To"] for m in notify.relay.sent] == ["ops@org1.example"]
    assert await notify.feed() == []  # the initial routing is the registration's business

    parent = OrganizationRef(id="org-2", name="Администрация города")
    await notify.deliver(routed(RoutingReason.ESCALATION, parent))
    [item] = await notify.feed()
    assert item["kind"] == "transferred" and "в Администрацию города." in item["body"]


async def test_overdue_alerts_the_supervisor_even_at_night(notify: Notify) -> None:
    quiet = QuietHours(start=time(0), end=time(23, 59), timezone="UTC")  # always quiet
    contacts = OrgContacts(
        operator_emails=["ops@org1.example"], supervisor_emails=["chief@org1.example"], quiet_hours=quiet
    )
    await registry(notify).set_org_contacts("org-1", contacts, "admin")
    payload = DeadlineOverdueV1(
        appeal_id="a1",
        number="2026-000123",
        timer=TimerKind.ANSWER,
        due_at=NOW,
        organization=ORG,
        overdue_at=NOW,
    )
    await notify.deliver(
        new_event(EventType.DEADLINE_OVERDUE, payload, source="deadlines", subject="a1", correlation_id="c1")
    )
    [alert] = notify.relay.sent
    assert alert["To"] == "chief@org1.example" and alert["Importance"] == "high"

    warning = DeadlineWarningV1(
        appeal_id="a1",
        number="2026-000123",
        timer=TimerKind.ANSWER,
        due_at=NOW,
        organization=ORG,
        remaining_hours=72,
    )
    await notify.deliver(
        new_event(EventType.DEADLINE_WARNING, warning, source="deadlines", subject="a1", correlation_id="c1")
    )
    assert len(notify.relay.sent) == 1  # not urgent: it waits for the end of the quiet hours
    deferred = await notify.db["deliveries"].find_one({"channel": "email", "kind": "due_soon"})
    assert deferred is not None and deferred["status"] == "deferred"


async def test_preferences_switch_email_off(notify: Notify) -> None:
    await registry(notify).set_preferences("citizen-1", Preferences(email=False))
    await notify.deliver(submitted())
    await notify.deliver(first_routed())
    assert notify.relay.sent == []
    assert len(await notify.feed()) == 1


async def test_an_unknown_citizen_does_not_hold_back_the_organisation(notify: Notify) -> None:
    await notify.deliver(routed())
    event = fact_event(EventType.APPEAL_REREVIEW_REQUESTED, RereviewRequestedV1)
    with pytest.raises(RecipientUnknown):
        await notify.deliver(event)
    org_kinds = {item["kind"] for item in await notify.db["feed"].find({"owner": "org:org-1"}).to_list()}
    assert org_kinds == {"new_appeal", "rereview_task"}
    await notify.deliver(submitted())
    await notify.deliver(event)  # the consumer's retry
    assert [item["kind"] for item in await notify.feed()] == ["rereview"]


async def test_a_relay_down_for_hours_backs_off_and_parks_after_a_day_then_admin_requeues(
    notify: Notify,
) -> None:
    notify.relay.failures.extend(
        aiosmtplib.SMTPConnectError("cannot reach citizen@example.org") for _ in range(100)
    )
    await notify.deliver(submitted())
    await notify.deliver(first_routed())
    engine = notify.app.state.flows.engine
    key = "a1:registered:email:citizen-1"
    delays = []
    while (doc := await notify.db["deliveries"].find_one({"_id": key})) and doc["status"] == "deferred":
        due = doc["not_before"].replace(tzinfo=UTC)
        delays.append((due - notify.clock()).total_seconds())
        notify.clock.advance(due - notify.clock())
        assert await engine.run_due() == 1
    assert delays[:7] == [30, 60, 120, 240, 480, 960, 1800]  # doubling, capped at 30 min
    assert set(delays[7:]) == {1800}
    assert doc is not None and doc["status"] == "failed"
    first = doc["first_failed_at"].replace(tzinfo=UTC)
    assert timedelta(hours=23) < notify.clock() - first <= timedelta(hours=24)  # a day, then parked
    [failed], total = await engine.failed(10, 0)
    assert total == 1 and failed["_id"] == key
    assert "example.org" not in failed["error"] and "gave up after" in failed["error"]
    notify.relay.failures.clear()
    assert await engine.requeue(failed["_id"])
    assert await engine.run_due() == 1
    assert len(notify.relay.sent) == 1
    assert await engine.failed(10, 0) == ([], 0)
