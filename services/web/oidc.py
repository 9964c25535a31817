"""Sign-in and sign-out.

Production: OpenID Connect authorization-code flow with PKCE (S256) through authlib's
`AsyncOAuth2Client` (over httpx2, the maintained continuation of httpx, which authlib builds on
when it is installed); the ID token is verified with joserfc against the issuer's JWKS (signature,
`iss`, `aud`, `exp`, `nonce`). The issuer is the one whose JWKS the gateway trusts, so its access
token is the bearer token for the gateway. Dev mode: a page that picks a demo person and asks the
gateway for a dev token (`POST /api/v1/dev/tokens`, which exists only in dev).
"""

from __future__ import annotations

import secrets
from typing import Any

import httpx2
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from libs.common.logging import get_logger
from services.web.gateway import GatewayError
from services.web.i18n import N_
from services.web.pages import checked_form, gateway_of, redirect, render, safe_next, session_of
from services.web.settings import WebSettings

log = get_logger(__name__)

# The dev sign-in page's people: (sub, role, org_id, name). Any other sub can be typed in.
DEMO_PEOPLE = [
    ("resident-anna", "citizen", None, "Анна Смирнова"),
    ("resident-boris", "citizen", None, "Борис Петров"),
    ("operator-city", "operator", "city-admin", "Оператор: Администрация города Демоград"),
    ("operator-roads", "operator", "dmg-roads", "Оператор: МКУ «Дорожное хозяйство Демограда»"),
    ("operator-landscaping", "operator", "dmg-landscaping", "Оператор: МКУ «Служба благоустройства»"),
]


class OidcError(Exception):
    pass


class OidcClient:
    """The issuer's metadata and keys (fetched once), the authorization URL and the code exchange."""

    def __init__(self, settings: WebSettings, transport: httpx2.AsyncBaseTransport | None = None) -> None:
        self._settings = settings
        self._transport = transport
        self._metadata: dict[str, Any] | None = None
        self._keys: KeySet | None = None
        self._http = httpx2.AsyncClient(timeout=10.0, transport=transport)

    async def close(self) -> None:
        await self._http.aclose()

    @property
    def redirect_uri(self) -> str:
        return self._settings.public_url.rstrip("/") + "/auth/callback"

    def _client(self) -> AsyncOAuth2Client:
        secret = self._settings.oidc_client_secret
        return AsyncOAuth2Client(
            client_id=self._settings.oidc_client_id,
            client_secret=secret.get_secret_value() if secret else None,
            token_endpoint_auth_method="client_secret_basic" if secret else "none",
            scope=self._settings.oidc_scope,
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
            transport=self._transport,
            timeout=10.0,
        )

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            issuer = str(self._settings.oidc_issuer).rstrip("/")
            response = await self._http.get(f"{issuer}/.well-known/openid-configuration")
            response.raise_for_status()
            self._metadata = response.json()
        return self._metadata

    async def authorization_url(self) -> tuple[str, dict[str, str]]:
        """(URL to send the browser to, what the session keeps until the callback)."""
        meta = await self.metadata()
        verifier = generate_token(48)
        nonce, state = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        async with self._client() as client:
            url, _ = client.create_authorization_url(
                meta["authorization_endpoint"], state=state, code_verifier=verifier, nonce=nonce
            )
        return url, {"state": state, "nonce": nonce, "code_verifier": verifier}

    async def exchange(self, code: str, pending: dict[str, str]) -> tuple[str, dict[str, Any]]:
        """(access token, verified ID token claims). Raises OidcError."""
        meta = await self.metadata()
        async with self._client() as client:
            token = await client.fetch_token(
                meta["token_endpoint"], code=code, code_verifier=pending["code_verifier"]
            )
        if "id_token" not in token or "access_token" not in token:
            raise OidcError("the issuer returned no ID token")
        claims = await self._verify_id_token(token["id_token"], pending["nonce"])
        return str(token["access_token"]), claims

    async def _verify_id_token(self, id_token: str, nonce: str) -> dict[str, Any]:
        meta = await self.metadata()
        if self._keys is None:
            response = await self._http.get(meta["jwks_uri"])
            response.raise_for_status()
            self._keys = KeySet.import_key_set(response.json())
        try:
            decoded = jwt.decode(id_token, self._keys, algorithms=["RS256", "ES256"])
            jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": meta["issuer"]},
                aud={"essential": True, "value": str(self._settings.oidc_client_id)},
                sub={"essential": True},
                exp={"essential": True},
                nonce={"essential": True, "value": nonce},
            ).validate(decoded.claims)
        except (JoseError, ValueError) as exc:
            raise OidcError("the ID token is not valid") from exc
        return dict(decoded.claims)


def auth_router(settings: WebSettings, oidc: OidcClient) -> APIRouter:
    """Sign-in (the dev form, OIDC login and callback) and sign-out; the dev sign-in re-raises
    gateway errors at 5xx for the app's error page."""
    router = APIRouter(tags=["sign-in"])

    @router.get("/signin")
    async def signin_page(request: Request, next: str = "/") -> Response:
        return render(request, "signin.html", next=safe_next(next), people=DEMO_PEOPLE, dev=settings.is_dev)

    @router.post("/signin")
    async def dev_signin(request: Request) -> Response:
        """Dev mode only: a dev token for the chosen (or typed) person.

        A refused token (below 500) shows the sign-in page again; a 5xx is re-raised."""
        form = await checked_form(request)
        if not settings.is_dev:
            return render(request, "error.html", 404, message="not_found")
        choice = str(form.get("person") or "")
        person = next((p for p in DEMO_PEOPLE if p[0] == choice), None)
        if person is None:
            sub = str(form.get("sub") or "").strip()
            role = str(form.get("role") or "citizen")
            org_id = str(form.get("org_id") or "").strip() or None
            person = (sub, role, org_id, sub)
        sub, role, org_id, name = person
        target = safe_next(str(form.get("next") or "/"))
        if not sub:
            return render(request, "signin.html", 422, next=target, people=DEMO_PEOPLE, dev=True, error="sub")
        try:
            body = {"sub": sub, "role": role, "org_id": org_id}
            token = await gateway_of(request).call("POST", "/dev/tokens", json=body)
        except GatewayError as exc:
            if exc.status >= 500:
                raise
            return render(
                request, "signin.html", 422, next=target, people=DEMO_PEOPLE, dev=True, error="refused"
            )
        session_of(request).sign_in(token["access_token"], sub, role, org_id, name)
        if target == "/":
            target = "/work" if role == "operator" else "/appeals"
        return redirect(target)

    @router.post("/signout")
    async def signout(request: Request) -> Response:
        await checked_form(request)
        session = session_of(request)
        session.__init__()  # type: ignore[misc]
        return redirect("/", N_("Signed out"), request)

    @router.get("/auth/login")
    async def oidc_login(request: Request, next: str = "/") -> Response:
        if not settings.oidc_enabled:
            return render(request, "error.html", 404, message="not_found")
        url, pending = await oidc.authorization_url()
        session_of(request).oidc = {**pending, "next": safe_next(next)}
        return RedirectResponse(url, status_code=303)

    @router.get("/auth/callback")
    async def oidc_callback(request: Request, code: str = "", state: str = "") -> Response:
        session = session_of(request)
        pending = session.oidc
        if not settings.oidc_enabled or not pending or not code:
            return render(request, "error.html", 400, message="signin")
        if not secrets.compare_digest(state.encode(), pending["state"].encode()):
            return render(request, "error.html", 400, message="signin")
        try:
            access_token, claims = await oidc.exchange(code, pending)
        except (OidcError, httpx2.HTTPError, KeyError) as exc:
            log.warning("oidc sign-in failed", error=type(exc).__name__)
            session.oidc = None
            return render(request, "error.html", 400, message="signin")
        role = str(claims.get("role") or "citizen")
        org_id = claims.get("org_id")
        name = claims.get("name") or claims.get("preferred_username") or claims["sub"]
        session.sign_in(access_token, str(claims["sub"]), role, str(org_id) if org_id else None, str(name))
        target = pending.get("next") or "/"
        if target == "/":
            target = "/work" if role == "operator" else "/appeals"
        return redirect(target)

    return router
