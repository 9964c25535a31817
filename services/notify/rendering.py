"""E-mail bodies from Jinja2 templates (package data under templates/), HTML autoescaped."""

from __future__ import annotations

from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from services.notify.schemas import Notification


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
        # Event fields (organisation names, rejection reasons) are untrusted text.
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        keep_trailing_newline=True,
    )


def render_email(notification: Notification) -> RenderedEmail:
    context = {
        "lang": notification.lang,
        "title": notification.title,
        "body": notification.body,
        "number": notification.number,
    }
    env = _environment()
    return RenderedEmail(
        subject=notification.title,
        text=env.get_template(f"{notification.lang}/email.txt.j2").render(context),
        html=env.get_template(f"{notification.lang}/email.html.j2").render(context),
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
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    # After the parts exist: making the message multipart moves Content-* headers into a part.
    message["Content-Language"] = notification.lang
    return message
