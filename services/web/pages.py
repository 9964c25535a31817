"""What every page handler shares: rendering with the session, sign-in and CSRF checks, and the
gateway's problem+json turned into messages next to the form fields."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from services.web.gateway import Gateway, GatewayError
from services.web.i18n import N_
from services.web.session import CSRF_FIELD, CSRF_HEADER, Session

# pydantic error types → a message id of the catalogue (shown next to the field).
ERROR_TEXTS = {
    "missing": N_("Fill in this field"),
    "string_too_short": N_("Too short"),
    "string_too_long": N_("Too long"),
    "too_long": N_("Too many items"),
    "enum": N_("Choose one of the options"),
    "value_error": N_("Check this value"),
    "greater_than_equal": N_("The number is too small"),
    "less_than_equal": N_("The number is too large"),
    "float_parsing": N_("Enter a number"),
    "int_parsing": N_("Enter a whole number"),
}
FIELD_TEXTS = {
    "location": N_("Give an address or pick a point on the map"),
    "contact": N_("Check the e-mail address"),
    "topic": N_("Choose a topic from the list"),
    "media_ids": N_("A photo could not be attached"),
}


class NotSignedIn(Exception):
    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


class CsrfFailed(Exception):
    pass


def session_of(request: Request) -> Session:
    session: Session = request.state.session
    return session


def gateway_of(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


def require_person(request: Request, role: str | None = None) -> Session:
    """The signed-in session (of `role` if given); otherwise NotSignedIn → the sign-in page.

    Raises NotSignedIn (carrying the URL to come back to) when nobody, or someone of another role,
    is signed in."""
    session = session_of(request)
    if not session.signed_in or (role is not None and session.role != role):
        raise NotSignedIn(str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""))
    return session


async def checked_form(request: Request, **limits: int) -> Any:
    """The posted form, after its CSRF token (field or header) matched the session's; the
    multipart limits (max_files, max_fields, max_part_size) apply while it is read.

    Raises CsrfFailed (the 403 page) when the token does not match."""
    form = await request.form(**limits)
    given = request.headers.get(CSRF_HEADER) or form.get(CSRF_FIELD)
    if not session_of(request).csrf_ok(given if isinstance(given, str) else None):
        raise CsrfFailed
    return form


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    templates: Jinja2Templates = request.app.state.templates
    session = session_of(request)
    flash, session.flash = session.flash, None
    context = {"session": session, "flash": flash, "csrf": session.csrf, "now": datetime.now(UTC), **context}
    return templates.TemplateResponse(request, template, context, status_code=status_code)


def redirect(url: str, flash: str | None = None, request: Request | None = None) -> RedirectResponse:
    """303 See Other: after a POST the browser GETs the next page (no re-submission on reload)."""
    if flash and request is not None:
        session_of(request).flash = flash
    return RedirectResponse(url, status_code=303)


def sign_in_url(next_url: str) -> str:
    return "/signin?next=" + quote(safe_next(next_url), safe="")


def safe_next(value: str | None) -> str:
    """Only a path on this site (no scheme, no `//host`): no open redirect after sign-in."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def field_errors(error: GatewayError) -> dict[str, str]:
    """{field: message id} from a 422's `errors` (loc = ["body", field, ...]); the first wins."""
    found: dict[str, str] = {}
    for item in error.errors:
        loc = [str(part) for part in item.get("loc", [])]
        name = loc[1] if len(loc) > 1 and loc[0] == "body" else (loc[0] if loc else "")
        if not name or name in found:
            continue
        found[name] = FIELD_TEXTS.get(name) or ERROR_TEXTS.get(str(item.get("type")), "Check this value")
    return found


async def topic_name(request: Request, code: str) -> str:
    """The topic's name from the (cached) public catalogue; the code if it is not there."""
    try:
        topics = await gateway_of(request).cached("/topics")
    except GatewayError:
        return code
    return next((str(t["name"]) for t in topics if t.get("code") == code), code)
