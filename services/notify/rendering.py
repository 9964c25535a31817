"""What a notification looks like on each channel: e-mail from Jinja2 templates (package data under
templates/, HTML autoescaped), a small JSON payload for push."""

from __future__ import annotations

import json
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from services.notify.schemas import Notification

# Push services accept about 4 KiB of encrypted payload; keep the clear text well below.
PUSH_TEXT_LIMIT = 1500


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


def push_payload(notification: Notification, *, app_url: str | None = None) -> str:
    """JSON the service worker shows: title and text, the appeal, where a tap leads."""
    text = notification.body
    if notification.detail:
        text = f"{text}\n\n{notification.detail}"
    if len(text) > PUSH_TEXT_LIMIT:
        text = text[: PUSH_TEXT_LIMIT - 1].rstrip() + "…"
    return json.dumps(
        {
            "id": notification.id,
            "kind": str(notification.kind),
            "title": notification.title,
            "body": text,
            "appeal_id": notification.appeal_id,
            "number": notification.number,
            "urgent": notification.urgent,
            "lang": notification.lang,
            "url": appeal_link(notification, app_url),
        },
        ensure_ascii=False,
    )


def parse_address(raw: str) -> Address:
    """One plain `user@domain`, or InvalidAddress: never a list, a display name or a line break."""
    try:
        address = Address(addr_spec=raw.strip())
    except Exception as exc:  # the parser raises several unrelated types for bad input
        raise InvalidAddress("not a single e-mail address") from exc
    if not address.domain:
        raise InvalidAddress("an e-mail address needs a domain")
    return address


def build_message(
    rendered: RenderedEmail, *, sender: str, to: Address, message_id: str, notification: Notification
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = rendered.subject
    message["Date"] = format_datetime(notification.created_at)
    # The same id on every retry lets mail systems drop a duplicate that slipped through.
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    if notification.urgent:
        message["Importance"] = "high"
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    # After the parts exist: making the message multipart moves Content-* headers into a part.
    message["Content-Language"] = notification.lang
    return message
