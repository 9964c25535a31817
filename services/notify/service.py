"""What to tell whom, in which language: pure functions, no I/O."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

from libs.common.events import AppealRejectedV1, DeadlineArmedV1
from services.notify.schemas import Notification, NotificationKind, Recipient

DEFAULT_LANG = "ru"
LANGS = ("ru", "en")
# Notification ids are derived from their key, so every retry computes the same one.
_ID_NAMESPACE = uuid.UUID("5b0c6f8e-3a51-4e8f-9a1d-2f7c4d1e9b60")
_SPACES = re.compile(r"\s+")

# (title, body) per kind and language; fields are filled with str.format, which never re-expands.
TEXTS: dict[NotificationKind, dict[str, tuple[str, str]]] = {
    NotificationKind.REGISTERED: {
        "ru": (
            "Обращение № {number} зарегистрировано",
            "Обращение № {number} зарегистрировано и направлено в {organization}. "
            "Ответ будет дан до {due_date}.",
        ),
        "en": (
            "Appeal No. {number} registered",
            "Appeal No. {number} has been registered and sent to {organization}. "
            "You will receive an answer by {due_date}.",
        ),
    },
    NotificationKind.REJECTED: {
        "ru": ("Обращение № {number} отклонено", "Обращение № {number} отклонено: {reason}"),
        "en": ("Appeal No. {number} rejected", "Appeal No. {number} has been rejected: {reason}"),
    },
}


def pick_lang(lang: str | None) -> str:
    """`en`, `en-GB`, `EN_us` → `en`; anything unsupported falls back to Russian."""
    primary = (lang or "").replace("_", "-").split("-")[0].strip().lower()
    return primary if primary in LANGS else DEFAULT_LANG


def notification_key(appeal_id: str, kind: NotificationKind) -> str:
    return f"{appeal_id}:{kind}"


def notification_id(key: str) -> str:
    return uuid.uuid5(_ID_NAMESPACE, key).hex


def delivery_id(key: str, channel: str, recipient_id: str) -> str:
    return f"{key}:{channel}:{recipient_id}"


def format_date(moment: datetime, timezone: str = "UTC") -> str:
    """The date as the organisation counts it: deadlines end at 23:59:59 in its time zone."""
    return moment.astimezone(ZoneInfo(timezone)).strftime("%d.%m.%Y")


def one_line(text: str) -> str:
    """Collapse whitespace: titles become e-mail subjects, where a line break is an injection."""
    return _SPACES.sub(" ", text).strip()


def registered(recipient: Recipient, armed: DeadlineArmedV1, *, event_id: str, now: datetime) -> Notification:
    return _build(
        NotificationKind.REGISTERED,
        recipient,
        appeal_id=armed.appeal_id,
        number=armed.number,
        event_id=event_id,
        now=now,
        organization=armed.organization.name,
        due_date=format_date(armed.due_at, armed.timezone),
    )


def rejected(
    recipient: Recipient, payload: AppealRejectedV1, *, event_id: str, now: datetime
) -> Notification:
    return _build(
        NotificationKind.REJECTED,
        recipient,
        appeal_id=payload.appeal_id,
        number=payload.number,
        event_id=event_id,
        now=now,
        reason=payload.reason,
    )


def _build(
    kind: NotificationKind,
    recipient: Recipient,
    *,
    appeal_id: str,
    number: str,
    event_id: str,
    now: datetime,
    **fields: str,
) -> Notification:
    lang = pick_lang(recipient.lang)
    title, body = TEXTS[kind][lang]
    key = notification_key(appeal_id, kind)
    return Notification(
        id=notification_id(key),
        key=key,
        kind=kind,
        appeal_id=appeal_id,
        number=number,
        user_id=recipient.user_id,
        lang=lang,
        title=one_line(title.format(number=number, **fields)),
        body=body.format(number=number, **fields).strip(),
        created_at=now,
        event_id=event_id,
    )
