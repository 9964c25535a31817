"""What to tell whom, in which language, and when: pure functions, no I/O."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from libs.common.clock import ends_a_day
from libs.common.contracts.notify import QuietHours
from services.notify.addresses import BlockedTarget, canonical_host, check_host
from services.notify.grammar import Phrase
from services.notify.schemas import AudienceKind, ChannelName, Notification, NotificationKind
from services.notify.texts import TEXTS, TIMER_LABELS, UNKNOWN_ORGANIZATION

DEFAULT_LANG = "ru"
LANGS = ("ru", "en")
# Notification ids are derived from their key, so every retry computes the same one.
_ID_NAMESPACE = uuid.UUID("5b0c6f8e-3a51-4e8f-9a1d-2f7c4d1e9b60")
_SPACES = re.compile(r"\s+")

# Channels that wake a person up: these wait out quiet hours unless the message is urgent.
INTRUSIVE = frozenset({ChannelName.EMAIL, ChannelName.PUSH})


class InvalidEndpoint(ValueError):
    """A push or webhook URL notify will not call."""


def pick_lang(lang: str | None) -> str:
    """`en`, `en-GB`, `EN_us` → `en`; anything unsupported falls back to Russian."""
    primary = (lang or "").replace("_", "-").split("-")[0].strip().lower()
    return primary if primary in LANGS else DEFAULT_LANG


def notification_key(appeal_id: str, kind: NotificationKind, *parts: str) -> str:
    """The same fact gives the same key: `a1:registered`, `a1:answered:0`, `a1:taken:<event id>`."""
    return ":".join([appeal_id, str(kind), *parts])


def notification_id(key: str) -> str:
    """A stable id (UUID5 hex, 32 digits) for a notification key: the same fact, the same id."""
    return uuid.uuid5(_ID_NAMESPACE, key).hex


def delivery_id(key: str, channel: str, target_id: str) -> str:
    """`<key>:<channel>:<target_id>`: one delivery per notification, channel and target."""
    return f"{key}:{channel}:{target_id}"


def event_key(appeal_id: str, event_id: str) -> str:
    """Webhooks carry events, not notifications: the event names the delivery."""
    return f"{appeal_id}:event:{event_id}"


def address_id(owner: str, address: str) -> str:
    """A target id for a mailbox that names no one: `org:7:` + a digest of the address."""
    return f"{owner}:{hashlib.sha256(address.strip().lower().encode()).hexdigest()[:16]}"


def subscription_id(endpoint: str) -> str:
    """The push subscription's id: the first 32 hex digits of the SHA-256 of its endpoint URL."""
    return hashlib.sha256(endpoint.encode()).hexdigest()[:32]


def format_due(moment: datetime, timezone: str = "UTC") -> str:
    """A deadline as the organisation counts it, in its time zone: the date alone when it ends the
    day (calendar-day deadlines end at 23:59:59, services/deadlines/dates.py), else the date and
    the time (the demo's minute-long deadlines, a due date moved by a pause)."""
    local = moment.astimezone(ZoneInfo(timezone))
    return local.strftime("%d.%m.%Y" if ends_a_day(local) else "%d.%m.%Y %H:%M")


def format_moment(moment: datetime, timezone: str = "UTC") -> str:
    """`DD.MM.YYYY HH:MM` in the time zone (an IANA name, UTC by default)."""
    return moment.astimezone(ZoneInfo(timezone)).strftime("%d.%m.%Y %H:%M")


def one_line(text: str) -> str:
    """Collapse whitespace: titles become e-mail subjects, where a line break is an injection."""
    return _SPACES.sub(" ", text).strip()


def organization_name(name: str | None, lang: str) -> str:
    """The organisation's name, or "unknown organisation" in the language."""
    return name or UNKNOWN_ORGANIZATION[pick_lang(lang)]


def timer_label(timer: str, lang: str) -> str:
    """The deadline's name in the language (the answer deadline's for an unknown timer)."""
    return TIMER_LABELS.get(timer, TIMER_LABELS["answer"])[pick_lang(lang)]


def build(
    kind: NotificationKind,
    *,
    audience: AudienceKind,
    owner: str,
    lang: str,
    appeal_id: str,
    number: str,
    event_id: str,
    now: datetime,
    key_parts: tuple[str, ...] = (),
    detail: str | None = None,
    urgent: bool = False,
    **fields: str,
) -> Notification:
    """A notification of `kind` for `owner` from `TEXTS` (in `lang`, ru or en), `fields` filled in;
    its id is stable for the appeal, kind and `key_parts`, so a redelivered event makes the same
    one."""
    lang = pick_lang(lang)
    title, body = TEXTS[kind][lang]
    key = notification_key(appeal_id, kind, *key_parts)
    fields = {name: Phrase(value) for name, value in fields.items()}  # `{organization:accs}`
    text = body.format(number=number, **fields).strip()
    return Notification(
        id=notification_id(key),
        key=key,
        kind=kind,
        audience=audience,
        owner=owner,
        appeal_id=appeal_id,
        number=number,
        lang=lang,
        title=one_line(title.format(number=number, **fields)),
        body=text[:1].upper() + text[1:],
        detail=detail.strip() if detail and detail.strip() else None,
        urgent=urgent,
        created_at=now,
        event_id=event_id,
    )


def user_owner(user_id: str) -> str:
    """The feed owner of a person: `user:<id>`."""
    return f"user:{user_id}"


def org_owner(org_id: str) -> str:
    """The feed owner of an organisation: `org:<id>`."""
    return f"org:{org_id}"


def is_urgent_warning(remaining_hours: int) -> bool:
    """A deadline due within a day may not wait for the morning; a later one may."""
    return remaining_hours <= 24


def quiet_until(quiet: QuietHours | None, now: datetime) -> datetime | None:
    """When the quiet hours that hold `now` end (UTC), or None if `now` is not in them."""
    if quiet is None:
        return None
    zone = ZoneInfo(quiet.timezone)
    local = now.astimezone(zone)
    moment = local.time().replace(tzinfo=None)
    if quiet.start < quiet.end:
        if not quiet.start <= moment < quiet.end:
            return None
        end_day = local.date()
    else:  # over midnight, e.g. 22:00 → 08:00
        if quiet.end <= moment < quiet.start:
            return None
        end_day = local.date() + timedelta(days=1) if moment >= quiet.start else local.date()
    return datetime.combine(end_day, quiet.end, tzinfo=zone).astimezone(UTC)


def defer_until(
    channel: ChannelName, urgent: bool, quiet: QuietHours | None, now: datetime
) -> datetime | None:
    """Non-urgent e-mail and push wait out the recipient's quiet hours; nothing else waits."""
    if urgent or channel not in INTRUSIVE:
        return None
    return quiet_until(quiet, now)


def retry_delay(attempt: int, base_seconds: float, cap_seconds: float = 3600.0) -> timedelta:
    """The wait before delivery attempt `attempt` + 1: `base_seconds` doubled per attempt, at most
    `cap_seconds` (an hour)."""
    return timedelta(seconds=min(cap_seconds, base_seconds * 2 ** max(0, attempt - 1)))


def check_endpoint(
    url: str, *, allow_insecure: bool, allow_loopback: bool = False, hosts: tuple[str, ...] = ()
) -> str:
    """An https URL with a host (no credentials) that is not a refused address in any spelling
    (`addresses.check_host`); `hosts` limits it to those domains (outside dev). Registration checks the form
    only: the address actually connected to is checked again at every delivery (outbound.py).

    `allow_insecure` (dev mode) accepts plain http; `allow_loopback` (NOTIFY_ALLOW_LOOPBACK_TARGETS,
    dev only) loopback addresses and `localhost`. Raises `InvalidEndpoint` with a neutral reason.
    """
    try:
        parts = urlsplit(url)
        host = canonical_host(parts.hostname or "")
        parts.port  # noqa: B018 - raises on a malformed port
    except (ValueError, BlockedTarget):
        raise InvalidEndpoint("not a valid URL") from None
    if parts.scheme not in (("https", "http") if allow_insecure else ("https",)):
        raise InvalidEndpoint("the URL must use https")
    if not host or parts.username or parts.password:
        raise InvalidEndpoint("the URL needs a host and no credentials")
    try:
        check_host(host, allow_loopback=allow_loopback)
    except BlockedTarget:
        raise InvalidEndpoint("the URL may not point at a private or local address") from None
    if hosts and not allow_insecure and not any(host == ok or host.endswith(f".{ok}") for ok in hosts):
        raise InvalidEndpoint("this push service is not accepted")
    return url
