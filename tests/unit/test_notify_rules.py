"""notify's pure rules: quiet hours, endpoints it will call, webhook scopes and signatures, and
every message kind rendered in both languages with hostile text escaped."""

from __future__ import annotations

import time as clock
from datetime import UTC, datetime, time, timedelta

import pytest

from devstack import webhook_sink
from libs.common.contracts.notify import QuietHours
from libs.common.events import (
    AppealAnsweredV1,
    AppealClarifiedV1,
    AppealClosedV1,
    AppealRejectedV1,
    AppealRoutedV1,
    AppealTakenV1,
    ClarificationRequestedV1,
    ClosedReason,
    DeadlineArmedV1,
    DeadlineOverdueV1,
    DeadlineWarningV1,
    OrganizationRef,
    RereviewRequestedV1,
    RoutingReason,
    TimerKind,
)
from services.notify import messages, service, signing
from services.notify.polls import POLL_KINDS
from services.notify.rendering import push_payload, render_email
from services.notify.schemas import AudienceKind, ChannelName, Notification, NotificationKind, Recipient

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
HOSTILE = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'
ORG = OrganizationRef(id="org-1", name=HOSTILE)
NIGHT = QuietHours(start=time(22), end=time(8), timezone="Europe/Moscow")


@pytest.mark.parametrize(
    ("utc", "until"),
    [
        (datetime(2026, 3, 2, 20, 30, tzinfo=UTC), datetime(2026, 3, 3, 5, 0, tzinfo=UTC)),  # 23:30 MSK
        (datetime(2026, 3, 2, 1, 0, tzinfo=UTC), datetime(2026, 3, 2, 5, 0, tzinfo=UTC)),  # 04:00 MSK
        (datetime(2026, 3, 2, 5, 0, tzinfo=UTC), None),  # 08:00 MSK: quiet hours are over
        (datetime(2026, 3, 2, 12, 0, tzinfo=UTC), None),  # 15:00 MSK
        (datetime(2026, 3, 2, 19, 0, tzinfo=UTC), datetime(2026, 3, 3, 5, 0, tzinfo=UTC)),  # 22:00 MSK
    ],
)
def test_quiet_hours_over_midnight(utc: datetime, until: datetime | None) -> None:
    assert service.quiet_until(NIGHT, utc) == until


def test_quiet_hours_within_a_day_and_across_a_clock_change() -> None:
    lunch = QuietHours(start=time(13), end=time(14), timezone="UTC")
    assert service.quiet_until(lunch, datetime(2026, 3, 2, 13, 30, tzinfo=UTC)) == datetime(
        2026, 3, 2, 14, tzinfo=UTC
    )
    assert service.quiet_until(lunch, datetime(2026, 3, 2, 14, 0, tzinfo=UTC)) is None
    berlin = QuietHours(start=time(22), end=time(7), timezone="Europe/Berlin")
    # The night of 28→29 March 2026: clocks go forward; 07:00 CEST is 05:00 UTC.
    assert service.quiet_until(berlin, datetime(2026, 3, 28, 22, 0, tzinfo=UTC)) == datetime(
        2026, 3, 29, 5, 0, tzinfo=UTC
    )


def test_only_non_urgent_mail_and_push_wait() -> None:
    night = datetime(2026, 3, 2, 20, 30, tzinfo=UTC)
    assert service.defer_until(ChannelName.EMAIL, False, NIGHT, night) is not None
    assert service.defer_until(ChannelName.PUSH, False, NIGHT, night) is not None
    assert service.defer_until(ChannelName.EMAIL, True, NIGHT, night) is None
    assert service.defer_until(ChannelName.FEED, False, NIGHT, night) is None
    assert service.defer_until(ChannelName.WEBHOOK, False, NIGHT, night) is None
    assert service.defer_until(ChannelName.EMAIL, False, None, night) is None


def test_quiet_hours_are_validated() -> None:
    with pytest.raises(ValueError, match="different"):
        QuietHours(start=time(8), end=time(8))
    with pytest.raises(ValueError, match="time zone"):
        QuietHours(start=time(22), end=time(8), timezone="Mars/Olympus")


@pytest.mark.parametrize(
    "url",
    [
        "http://crm.example.org/hook",  # not https
        "https://127.0.0.1/hook",
        "https://10.0.0.5/hook",
        "https://[::1]/hook",
        "https://localhost/hook",
        "https://user:pass@crm.example.org/hook",
        "ftp://crm.example.org/hook",
        "https://crm.example.org:99999/hook",
    ],
)
def test_endpoints_notify_refuses_outside_dev(url: str) -> None:
    with pytest.raises(service.InvalidEndpoint):
        service.check_endpoint(url, allow_insecure=False)


def test_endpoints_accepted() -> None:
    assert service.check_endpoint("https://crm.example.org/hook", allow_insecure=False)
    hosts = ("fcm.googleapis.com", "push.services.mozilla.com")
    assert service.check_endpoint("https://fcm.googleapis.com/fcm/send/x", allow_insecure=False, hosts=hosts)
    assert service.check_endpoint(
        "https://updates.push.services.mozilla.com/wpush/v2/x", allow_insecure=False, hosts=hosts
    )
    with pytest.raises(service.InvalidEndpoint):
        service.check_endpoint("https://evil.example.org/x", allow_insecure=False, hosts=hosts)
    assert service.check_endpoint("http://127.0.0.1:9100/hook", allow_insecure=True, allow_loopback=True)


def test_webhook_scopes() -> None:
    org_hook = {"scope": "organization", "org_id": "org-1", "events": ["appeal.routed"]}
    social_hook = {"scope": "social", "org_id": None, "events": None}
    assert service.webhook_wants(org_hook, "appeal.routed", "org-1", "web")
    assert not service.webhook_wants(org_hook, "appeal.routed", "org-2", "web")
    assert not service.webhook_wants(org_hook, "appeal.answered", "org-1", "web")  # not subscribed
    assert service.webhook_wants(social_hook, "appeal.answered", "org-2", "social")
    assert not service.webhook_wants(social_hook, "appeal.answered", "org-2", "web")
    assert not service.webhook_wants(social_hook, "appeal.submitted", None, "social")  # personal data


def test_a_monitors_social_webhook_sees_only_its_own_incidents() -> None:
    m1 = {"scope": "social", "monitor_id": "m1", "created_by": "m1", "events": None}
    m2 = {"scope": "social", "monitor_id": "m2", "created_by": "m2", "events": None}
    admin = {"scope": "social", "monitor_id": None, "created_by": "admin-1", "events": None}
    legacy = {"scope": "social", "created_by": "m1", "events": None}  # stored before monitor_id
    wants = service.webhook_wants
    assert wants(m1, "appeal.routed", "org-1", "social", "m1")
    assert not wants(m2, "appeal.routed", "org-1", "social", "m1")
    assert wants(admin, "appeal.routed", "org-1", "social", "m1")  # an admin's sees every incident
    assert wants(legacy, "appeal.routed", "org-1", "social", "m1")
    assert not wants(legacy, "appeal.routed", "org-1", "social", "m2")
    assert not wants(m1, "appeal.routed", "org-1", "social", None)  # author unknown: not sent
    assert not wants(m1, "appeal.routed", "org-1", "web", "m1")  # a citizen's appeal


def test_signatures_agree_with_the_reference_receiver() -> None:
    body = b'{"event":{"type":"appeal.routed"}}'
    now = int(clock.time())
    signed = signing.signature("s3cret-s3cret-s3cret", now, body)
    assert signed.startswith("sha256=")
    assert signing.verify("s3cret-s3cret-s3cret", str(now), signed, body, now=now)
    assert webhook_sink.verify("s3cret-s3cret-s3cret", str(now), signed, body, now)
    assert not webhook_sink.verify("other-secret-other", str(now), signed, body, now)
    assert not webhook_sink.verify("s3cret-s3cret-s3cret", str(now), signed, body + b" ", now)
    assert not webhook_sink.verify("s3cret-s3cret-s3cret", str(now), signed, body, now + 301)  # replayed


def citizen(lang: str) -> Recipient:
    return Recipient(user_id="u1", email="citizen@example.org", lang=lang)


def every_kind(lang: str) -> list[Notification]:
    r = citizen(lang)
    fact = {"appeal_id": "a1", "number": "2026-000123", "organization": ORG, "at": NOW}
    routed = AppealRoutedV1(
        appeal_id="a1",
        number="2026-000123",
        topic="roads",
        organization=ORG,
        rule="r",
        answer_sla_days=10,
        routed_at=NOW,
        reason=RoutingReason.ESCALATION,
    )
    deadline = {"appeal_id": "a1", "number": "2026-000123", "timer": TimerKind.ANSWER, "organization": ORG}
    e = {"event_id": "e1", "now": NOW}
    armed = DeadlineArmedV1(**deadline, due_at=NOW + timedelta(days=10), armed_at=NOW)
    rejected = AppealRejectedV1(
        appeal_id="a1", number="2026-000123", reason_code="x", reason=HOSTILE, rejected_at=NOW
    )
    question = ClarificationRequestedV1(**fact, operator_id="op", question=HOSTILE)
    answer = AppealAnsweredV1(**fact, operator_id="op", text=f"Ответ:\n{HOSTILE}")
    rereview = RereviewRequestedV1(**fact)
    warning = DeadlineWarningV1(**deadline, due_at=NOW + timedelta(hours=5), remaining_hours=5)
    overdue = DeadlineOverdueV1(**deadline, due_at=NOW, overdue_at=NOW)
    return [
        messages.registered(r, armed, **e),
        messages.rejected(r, rejected, **e),
        messages.transferred(r, routed, **e),
        messages.taken(r, AppealTakenV1(**fact, operator_id="op"), ORG.name, **e),
        messages.clarification_requested(r, question, None, **e),
        messages.answered(r, answer, ORG.name, **e),
        messages.rereview(r, rereview, **e),
        messages.closed(r, AppealClosedV1(**fact, reason=ClosedReason.RATED), **e),
        messages.new_appeal(routed, lang, **e),
        messages.clarified(AppealClarifiedV1(**fact), "org-1", lang, **e),
        messages.rereview_task(rereview, "org-1", lang, **e),
        messages.due_soon(warning, lang, "Europe/Moscow", **e),
        messages.overdue(overdue, lang, "Europe/Moscow", **e),
        messages.control_centre(r, routed, **e),
    ]


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_every_kind_renders_in_both_languages_with_hostile_text_escaped(lang: str) -> None:
    notes = every_kind(lang)
    # The poll kinds have their own twin of this test (tests/unit/test_polls_notify.py).
    assert {note.kind for note in notes} == set(NotificationKind) - POLL_KINDS
    for note in notes:
        assert note.lang == lang and "\n" not in note.title and "2026-000123" in note.title
        assert note.body[0].isupper() or not note.body[0].isalpha()
        rendered = render_email(note, app_url="https://appeals.example.org")
        assert "<script>" not in rendered.html and "<img" not in rendered.html
        assert f'<html lang="{lang}">' in rendered.html
        assert "https://appeals.example.org/appeals/a1" in rendered.text
        if HOSTILE in note.body or (note.detail and HOSTILE in note.detail):
            assert "&lt;script&gt;" in rendered.html
            assert HOSTILE in rendered.text  # plain text is not HTML: shown as written
        assert ("Здравствуйте" in rendered.text) if lang == "ru" else rendered.text.startswith("Hello")


def test_audiences_urgency_and_keys() -> None:
    notes = {note.kind: note for note in every_kind("ru")}
    assert notes[NotificationKind.ANSWERED].audience is AudienceKind.CITIZEN
    assert notes[NotificationKind.ANSWERED].owner == "user:u1"
    assert notes[NotificationKind.ANSWERED].key == "a1:answered:0"
    assert notes[NotificationKind.ANSWERED].detail.startswith("Ответ:")  # type: ignore[union-attr]
    assert notes[NotificationKind.NEW_APPEAL].owner == "org:org-1"
    assert notes[NotificationKind.OVERDUE].audience is AudienceKind.SUPERVISOR
    assert notes[NotificationKind.OVERDUE].urgent and notes[NotificationKind.DUE_SOON].urgent
    assert not notes[NotificationKind.REGISTERED].urgent
    assert "02.03.2026 17:30" in notes[NotificationKind.DUE_SOON].body  # Moscow time
    assert "ответственная организация" not in notes[NotificationKind.TAKEN].body
    assert notes[NotificationKind.CLARIFICATION_REQUESTED].body.startswith("Ответственная организация")


def test_push_payload_is_small_and_complete() -> None:
    note = every_kind("en")[5]  # answered
    long = note.model_copy(update={"detail": "x" * 10_000})
    payload = push_payload(long, app_url="https://appeals.example.org/")
    assert len(payload.encode()) < 3000
    assert '"url": "https://appeals.example.org/appeals/a1"' in payload
