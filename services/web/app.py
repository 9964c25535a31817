"""`create_app(settings)`: the server-rendered web frontend (citizen, operator, public pages)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Any

import httpx
import httpx2
import jinja2
from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from libs.common.http import CorrelationMiddleware, ops_router
from libs.common.logging import get_logger
from services.web.citizen_routes import citizen_router
from services.web.gateway import Gateway, GatewayError
from services.web.i18n import translations
from services.web.oidc import OidcClient, auth_router
from services.web.operator_routes import operator_router
from services.web.pages import CsrfFailed, NotSignedIn, render, session_of, sign_in_url
from services.web.poll_routes import poll_router
from services.web.poll_work_routes import poll_work_router
from services.web.public_routes import public_router
from services.web.session import COOKIE_PLAIN_NAME, COOKIE_SECURE_NAME, Session, SessionCodec
from services.web.settings import HERE, WebSettings
from services.web.texts import template_globals

log = get_logger(__name__)
# Static files and the probes need no session (and no cookie minted for every probe).
NO_SESSION_PATHS = ("/static/", "/vendor/", "/health", "/ready", "/metrics")


def security_headers(settings: WebSettings) -> dict[str, str]:
    """A strict Content-Security-Policy: scripts and styles from this origin only (no inline code,
    no eval), no framing of our pages (the widget opens a window instead), forms post here only."""
    img = "'self' data: blob:"
    if settings.tile_url:
        img += " " + "/".join(settings.tile_url.split("/")[:3]).replace("{s}.", "*.")
    csp = (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        f"img-src {img}; connect-src 'self'; font-src 'self'; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
    return {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "X-Frame-Options": "DENY",
        "Permissions-Policy": "camera=(self), geolocation=(self), microphone=()",
        "Cross-Origin-Opener-Policy": "same-origin-allow-popups",
    }


def create_app(
    settings: WebSettings,
    gateway_transport: httpx.AsyncBaseTransport | None = None,
    oidc_transport: httpx2.AsyncBaseTransport | None = None,
) -> FastAPI:
    """The transports let tests answer for the gateway and the OIDC issuer in-process."""
    gateway = Gateway(settings, gateway_transport)
    oidc = OidcClient(settings, oidc_transport)
    codec = SessionCodec(settings.session_secret.get_secret_value(), settings.session_max_age_seconds)
    cookie_name = COOKIE_SECURE_NAME if settings.secure_cookies else COOKIE_PLAIN_NAME
    headers = security_headers(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await gateway.close()
            await oidc.close()

    app = FastAPI(
        title="Citizen appeals: web", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True, extensions=["jinja2.ext.i18n"]
    )
    templates = Jinja2Templates(env=env)
    templates.env.install_gettext_translations(translations(settings.language), newstyle=True)  # type: ignore[attr-defined]
    templates.env.globals.update(template_globals(settings))
    app.state.templates = templates
    app.state.gateway = gateway
    app.state.settings = settings

    @app.middleware("http")
    async def session_and_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        loaded = codec.loads(request.cookies.get(cookie_name))
        session = loaded or Session()
        before = asdict(session) if loaded else None
        request.state.session = session
        response = await call_next(request)
        # Written only when it changed (sign-in, flash, sign-out) or was missing: the session
        # then lives at most WEB_SESSION_MAX_AGE_SECONDS from sign-in, not from the last click.
        if asdict(session) != before and not request.url.path.startswith(NO_SESSION_PATHS):
            response.set_cookie(
                cookie_name,
                codec.dumps(session),
                max_age=settings.session_max_age_seconds,
                path="/",
                secure=settings.secure_cookies,
                httponly=True,
                samesite="lax",
            )
        for name, header in headers.items():
            response.headers.setdefault(name, header)
        if response.headers.get("content-type", "").startswith("text/html"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, NotSignedIn)
        return RedirectResponse(sign_in_url(exc.next_url), status_code=303)

    @app.exception_handler(CsrfFailed)
    async def csrf_failed(request: Request, exc: Exception) -> Response:
        return render(request, "error.html", 403, message="csrf")

    @app.exception_handler(GatewayError)
    async def gateway_failed(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, GatewayError)
        if exc.status == 401:  # the token expired or was revoked: sign in again
            session = session_of(request)
            session.__init__()  # type: ignore[misc]
            return RedirectResponse(sign_in_url(request.url.path), status_code=303)
        log.info("gateway refused", status=exc.status, path=request.url.path)
        return render(
            request, "error.html", exc.status if exc.status < 500 else 502, message="gateway", error=exc
        )

    async def not_found(request: Request, exc: Any) -> Response:
        if not hasattr(request.state, "session"):
            return HTMLResponse("Not found", status_code=404)
        return render(request, "error.html", 404, message="not_found")

    app.add_exception_handler(404, not_found)
    app.add_middleware(CorrelationMiddleware)
    app.include_router(ops_router({"gateway": gateway.ready}))
    app.include_router(auth_router(settings, oidc))
    app.include_router(public_router(settings))
    app.include_router(citizen_router(settings))
    app.include_router(operator_router(settings))
    app.include_router(poll_router())
    app.include_router(poll_work_router())
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for name, folder in (("htmx", "htmx.org/dist"), ("leaflet", "leaflet/dist")):
        app.mount(
            f"/vendor/{name}",
            StaticFiles(directory=settings.node_modules / folder, check_dir=False),
            name=name,
        )
    return app
