"""What a notification looks like on each channel: e-mail from Jinja2 templates (package data under
templates/, HTML autoescaped), a small JSON payload for push."""

from __future__ import annotations

import json
from dataclasses import dataclass
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, parseaddr
from functools import cache

import regex
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from libs.common.contacts import NEEDS_SMTPUTF8, InvalidEmail, check_email
from services.notify.schemas import Notification

# RFC 8291 §4 / RFC 8188: a push message is one aes128gcm record of at most 4096 bytes; its header
# takes 86 (16 salt + 4 record size + 1 key length + 65 sender key), the GCM tag 16 and the padding
# delimiter 1: at most 3993 bytes of JSON, counted after UTF-8 encoding.
PUSH_RECORD_BYTES = 4096
PUSH_PLAINTEXT_BYTES = PUSH_RECORD_BYTES - 86 - 16 - 1
PUSH_TEXT_LIMIT = 1500  # characters: a readable notification; the byte bound is enforced separately
_GRAPHEME = regex.compile(r"\X")
_ELLIPSIS = "…"


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


class InvalidAddress(ValueError):
    pass


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("services.notify", "templates"),
        # Event fields (organisation names, answers, questions, reasons) are untrusted text.
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        keep_trailing_newline=True,
    )


def appeal_link(notification: Notification, app_url: str | None) -> str | None:
    if not app_url:
        return None
    # Poll notifications carry the poll's id where an appeal's would be (services/notify/polls.py).
    section = "polls" if str(notification.kind).startswith("poll_") else "appeals"
    return f"{app_url.rstrip('/')}/{section}/{notification.appeal_id}"


def render_email(notification: Notification, *, app_url: str | None = None) -> RenderedEmail:
    context = {
        "lang": notification.lang,
        "title": notification.title,
        "body": notification.body,
        "detail": notification.detail,
        "number": notification.number,
        "link": appeal_link(notification, app_url),
        "for_citizen": notification.owner.startswith("user:"),
    }
    env = _environment()
    return RenderedEmail(
        subject=notification.title,
        text=env.get_template(f"{notification.lang}/email.txt.j2").render(context),
        html=env.get_template(f"{notification.lang}/email.html.j2").render(context),
    )


def push_payload(
    notification: Notification, *, app_url: str | None = None, max_bytes: int = PUSH_PLAINTEXT_BYTES
) -> str:
    """JSON the service worker shows: title and text, the appeal, where a tap leads.

    Its UTF-8 encoding is at most `max_bytes` (3993: what fits one 4096-byte aes128gcm record,
    RFC 8291): the text, then if need be the title, is cut at a grapheme boundary (an emoji with
    its modifiers, a letter with its accents stays whole) and ends with "…".

    Raises ValueError when even the cut payload is longer than `max_bytes`."""
    text = notification.body
    if notification.detail:
        text = f"{text}\n\n{notification.detail}"
    fields = {
        "id": notification.id,
        "kind": str(notification.kind),
        "title": notification.title,
        "body": _cut(text, PUSH_TEXT_LIMIT),
        "appeal_id": notification.appeal_id,
        "number": notification.number,
        "urgent": notification.urgent,
        "lang": notification.lang,
        "url": appeal_link(notification, app_url),
    }
    for name in ("body", "title"):
        if _size(fields) <= max_bytes:
            break
        fields[name] = _fit(fields, name, max_bytes)
    payload = json.dumps(fields, ensure_ascii=False)
    if len(payload.encode()) > max_bytes:  # ids and the link alone are too long: never sent cut
        raise ValueError(f"push payload of {len(payload.encode())} bytes exceeds {max_bytes}")
    return payload


def _size(fields: dict[str, object]) -> int:
    return len(json.dumps(fields, ensure_ascii=False).encode())


def _cut(text: str, graphemes: int) -> str:
    """The first `graphemes` user-perceived characters, with "…" when something was cut."""
    parts = _GRAPHEME.findall(text)
    if len(parts) <= graphemes:
        return text
    return "".join(parts[: max(0, graphemes - 1)]).rstrip() + _ELLIPSIS


def _fit(fields: dict[str, object], name: str, max_bytes: int) -> str:
    """The longest cut of fields[name] (whole graphemes + "…") with which the JSON fits."""
    text = str(fields[name])
    low, high = 0, len(_GRAPHEME.findall(text))
    while low < high:  # the largest count of graphemes that fits: binary search on the size
        middle = (low + high + 1) // 2
        if _size({**fields, name: _cut(text, middle)}) <= max_bytes:
            low = middle
        else:
            high = middle - 1
    return _cut(text, low) if low else ""


def parse_address(raw: str, *, smtputf8: bool = False) -> Address:
    """One plain `user@domain` as the envelope and the To header carry it, or InvalidAddress:
    never a list, a display name or a line break. The rule is `libs.common.contacts` (the same
    the doors apply); the domain is IDNA-encoded; a non-ASCII local part only with `smtputf8`.

    Raises InvalidAddress with a neutral reason (never quoting the address)."""
    try:
        checked = check_email(raw, smtputf8=smtputf8)
    except InvalidEmail as exc:  # the validator's text may quote parts of the address: not kept
        reason = str(exc) if str(exc) == NEEDS_SMTPUTF8 else "not a deliverable e-mail address"
        raise InvalidAddress(reason) from None
    local, _, domain = checked.deliver_to.rpartition("@")
    return Address(username=local, domain=domain)


def build_message(
    rendered: RenderedEmail, *, sender: str, to: Address, message_id: str, notification: Notification
) -> Message:
    """multipart/alternative (text, then HTML), UTF-8, with the headers below.

    An ASCII address gets a compat32 message (`email.mime`): its headers are plain strings, so
    building and flattening it costs a sixth of an `EmailMessage`'s header objects (measured:
    3.0 → 0.5 ms per e-mail, the largest share of notify's CPU). A non-ASCII local part needs
    RFC 6532 headers, which only `EmailMessage` writes (aiosmtplib sends it with SMTPUTF8)."""
    if not to.username.isascii():
        return _build_utf8(rendered, sender=sender, to=to, message_id=message_id, notification=notification)
    # A boundary of our own (the parts are base64, which never holds "_"): the generator would
    # otherwise make a random one and compile a regular expression to check it, per message.
    message = MIMEMultipart("alternative", boundary=f"=_{notification.id}")
    message["From"] = _from_header(sender)
    message["To"] = to.addr_spec
    subject = rendered.subject
    message["Subject"] = subject if subject.isascii() else Header(subject, "utf-8")  # type: ignore[assignment]
    _common_headers(message, message_id, notification)
    message.attach(MIMEText(rendered.text, "plain", "utf-8"))
    message.attach(MIMEText(rendered.html, "html", "utf-8"))
    return message


@cache
def _from_header(sender: str) -> str:
    """The configured sender as an ASCII header (an RFC 2047 display name): made once."""
    return formataddr(parseaddr(sender), charset="utf-8")


def _common_headers(message: Message, message_id: str, notification: Notification) -> None:
    message["Date"] = format_datetime(notification.created_at)
    # The same id on every retry lets mail systems drop a duplicate that slipped through.
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    if notification.urgent:
        message["Importance"] = "high"
    message["Content-Language"] = notification.lang


def _build_utf8(
    rendered: RenderedEmail, *, sender: str, to: Address, message_id: str, notification: Notification
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = rendered.subject
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    # After the parts exist: making the message multipart moves Content-* headers into a part.
    _common_headers(message, message_id, notification)
    return message
