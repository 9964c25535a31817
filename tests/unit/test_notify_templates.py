"""Texts and e-mail rendering of notify: languages, escaping, message structure."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from libs.common.events import AppealRejectedV1, DeadlineArmedV1, OrganizationRef, TimerKind
from services.notify import service
from services.notify.messages import tell
from services.notify.rendering import InvalidAddress, build_message, parse_address, render_email
from services.notify.schemas import Notification, NotificationKind, Recipient
from tests.unit.test_notify_handlers import received

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def _note(
    kind: NotificationKind, person: Recipient, payload: Any, *, event_id: str, now: datetime
) -> Notification:
    return tell(kind, payload, lang=person.lang, person=person, event_id=event_id, now=now)


def armed(org_name: str = "Управа района Хамовники") -> DeadlineArmedV1:
    return DeadlineArmedV1(
        appeal_id="a1",
        number="2026-000123",
        timer=TimerKind.ANSWER,
        due_at=datetime(2026, 3, 12, 20, 59, 59, tzinfo=UTC),
        organization=OrganizationRef(id="org-1", name=org_name),
        timezone="Europe/Moscow",  # the end of 12 March there
        armed_at=NOW,
    )


def recipient(lang: str = "ru") -> Recipient:
    return Recipient(user_id="u1", email="citizen@example.org", lang=lang)


def test_registered_in_russian() -> None:
    note = _note(NotificationKind.REGISTERED, recipient(), armed(), event_id="e1", now=NOW)
    assert note.kind is NotificationKind.REGISTERED
    assert note.title == "Обращение № 2026-000123 зарегистрировано"
    assert note.body == (
        "Обращение № 2026-000123 зарегистрировано и направлено в Управу района Хамовники. "
        "Ответ будет дан до 12.03.2026."
    )
    assert note.key == "a1:registered"
    assert note.id == service.notification_id("a1:registered")


def test_registered_in_english() -> None:
    note = _note(
        NotificationKind.REGISTERED, recipient("en-GB"), armed("District council"), event_id="e1", now=NOW
    )
    assert note.lang == "en"
    assert note.body == (
        "Appeal No. 2026-000123 has been registered and sent to District council. "
        "You will receive an answer by 12.03.2026."
    )


@pytest.mark.parametrize(("given", "picked"), [("ru", "ru"), ("EN_us", "en"), ("de", "ru"), ("", "ru")])
def test_language_falls_back_to_russian(given: str, picked: str) -> None:
    assert service.pick_lang(given) == picked


def test_rejected_text() -> None:
    payload = AppealRejectedV1(
        appeal_id="a1",
        number="2026-000123",
        reason_code="abuse",
        reason="нецензурная лексика",
        rejected_at=NOW,
    )
    note = _note(NotificationKind.REJECTED, recipient(), payload, event_id="e2", now=NOW)
    assert note.body == "Обращение № 2026-000123 отклонено: нецензурная лексика"
    assert note.key == "a1:rejected"


@pytest.mark.parametrize(("lang", "greeting"), [("ru", "Здравствуйте!"), ("en", "Hello,")])
def test_email_renders_per_language(lang: str, greeting: str) -> None:
    rendered = render_email(
        _note(NotificationKind.REGISTERED, recipient(lang), armed(), event_id="e1", now=NOW)
    )
    assert rendered.text.startswith(greeting)
    assert "2026-000123" in rendered.text
    assert "12.03.2026" in rendered.html
    assert f'<html lang="{lang}">' in rendered.html
    assert greeting in rendered.html


def test_hostile_text_is_escaped_in_html_only() -> None:
    hostile = '<script>alert("x")</script> & Co'
    rendered = render_email(
        _note(NotificationKind.REGISTERED, recipient(), armed(hostile), event_id="e1", now=NOW)
    )
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Co" in rendered.html
    assert hostile in rendered.text  # plain text is not HTML: shown as written


def test_line_breaks_never_reach_the_subject() -> None:
    note = _note(NotificationKind.REGISTERED, recipient(), armed(), event_id="e1", now=NOW)
    sneaky = _note(
        NotificationKind.REJECTED,
        recipient(),
        AppealRejectedV1(
            appeal_id="a1", number="1\r\nBcc: x@evil", reason_code="r", reason="r", rejected_at=NOW
        ),
        event_id="e2",
        now=NOW,
    )
    assert "\n" not in note.title
    assert "\r" not in sneaky.title and "\n" not in sneaky.title


def test_message_is_multipart_text_and_html() -> None:
    note = _note(NotificationKind.REGISTERED, recipient(), armed(), event_id="e1", now=NOW)
    message = received(
        build_message(
            render_email(note),
            sender="Обращения граждан <no-reply@appeals.local>",
            to=parse_address("citizen@example.org"),
            message_id="<id@appeals.local>",
            notification=note,
        )
    )
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["Subject"] == note.title
    assert message["To"] == "citizen@example.org"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Content-Language"] == "ru"


@pytest.mark.parametrize("bad", ["", "no-domain", "a@b.org, c@d.org", "a@b.org\nBcc: c@d.org", "<a@b.org>"])
def test_only_single_plain_addresses_are_accepted(bad: str) -> None:
    with pytest.raises(InvalidAddress):
        parse_address(bad)
