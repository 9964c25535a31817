"""The web frontend without a browser: its security (CSRF, cookie, CSP, no token in pages or
URLs, safe redirects), errors next to the fields, the widget's topic filter, and the OIDC
authorization-code + PKCE sign-in against a fake issuer. The gateway and the issuer are fakes
answering through an httpx transport."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from services.web.app import create_app
from services.web.citizen_routes import appeal_body, topic_groups
from services.web.gateway import GatewayError
from services.web.pages import field_errors, safe_next
from services.web.session import Session, SessionCodec
from services.web.settings import WebSettings

ISSUER = "https://issuer.test"
TOPICS = [
    {
        "code": "roads.potholes",
        "name": "Ямы",
        "category": "Дороги",
        "category_code": "roads",
        "answer_sla_days": 30,
    },
    {
        "code": "roads.bridges",
        "name": "Мосты",
        "category": "Дороги",
        "category_code": "roads",
        "answer_sla_days": 30,
    },
    {
        "code": "health.appointment",
        "name": "Запись",
        "category": "Здоровье",
        "category_code": "health",
        "answer_sla_days": 10,
    },
]
DEV_TOKEN = "dev.jwt.token-value-that-must-never-be-shown"


class FakeWorld:
    """The gateway's public API and an OIDC issuer, as far as these tests need them."""

    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
        self.codes: dict[str, dict[str, str]] = {}
        self.appeal_requests: list[dict[str, Any]] = []
        self.submit_status = 201
        self.id_token_nonce: str | None = None  # None: echo the nonce the client sent

    def handle(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.host == "issuer.test":
            return self.issuer(request)
        path = url.path.removeprefix("/api/v1")
        if path == "/topics":
            return httpx.Response(200, json=TOPICS)
        if path == "/dev/tokens":
            return httpx.Response(200, json={"access_token": DEV_TOKEN, "token_type": "bearer"})
        if path == "/appeals" and request.method == "POST":
            self.appeal_requests.append(
                {"body": json.loads(request.content), "headers": dict(request.headers)}
            )
            if self.submit_status == 422:
                errors = [
                    {
                        "loc": ["body", "summary"],
                        "msg": "String should have at least 3 characters",
                        "type": "string_too_short",
                    }
                ]
                return httpx.Response(
                    422, json={"status": 422, "detail": "summary: too short", "errors": errors}
                )
            return httpx.Response(201, json={"id": "a1", "number": "2026-000042", "status": "received"})
        if path == "/appeals" and request.method == "GET":
            auth = request.headers.get("authorization", "")
            if not auth.startswith("Bearer "):
                return httpx.Response(401, json={"status": 401, "detail": "no token"})
            return httpx.Response(200, json={"items": [], "total": 0, "limit": 20, "offset": 0})
        return httpx.Response(404, json={"status": 404, "detail": "not here"})

    def issuer(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/openid-configuration":
            return httpx.Response(
                200,
                json={
                    "issuer": ISSUER,
                    "authorization_endpoint": f"{ISSUER}/authorize",
                    "token_endpoint": f"{ISSUER}/token",
                    "jwks_uri": f"{ISSUER}/jwks",
                },
            )
        if request.url.path == "/jwks":
            return httpx.Response(200, json=KeySet([self.key]).as_dict(private=False))
        if request.url.path == "/token":
            form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
            grant = self.codes.pop(form.get("code", ""), None)
            verifier = form.get("code_verifier", "")
            challenge = (
                base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            )
            if (
                grant is None
                or grant["challenge"] != challenge
                or form.get("grant_type") != "authorization_code"
            ):
                return httpx.Response(400, json={"error": "invalid_grant"})
            claims = {
                "iss": ISSUER,
                "aud": "web-client",
                "sub": "oidc-user-7",
                "exp": 4102444800,
                "iat": 1700000000,
                "nonce": self.id_token_nonce or grant["nonce"],
                "name": "Ольга",
                "role": "citizen",
            }
            id_token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, self.key)
            return httpx.Response(
                200,
                json={
                    "access_token": "issuer-access-token",
                    "token_type": "Bearer",
                    "id_token": id_token,
                    "expires_in": 300,
                },
            )
        return httpx.Response(404)

    def authorize(self, url: str) -> str:
        """The issuer's login page, answered at once: a code bound to the PKCE challenge."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        assert query["response_type"] == "code" and query["code_challenge_method"] == "S256"
        code = f"code-{len(self.codes)}"
        self.codes[code] = {"challenge": query["code_challenge"], "nonce": query["nonce"]}
        return f"/auth/callback?code={code}&state={query['state']}"


@pytest.fixture
def world() -> FakeWorld:
    return FakeWorld()


async def client_for(world: FakeWorld, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    values = {"env": "dev", "gateway_url": "http://gateway.test", "public_url": "http://web.test", **settings}
    app = create_app(WebSettings(**values), httpx.MockTransport(world.handle))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://web.test") as client,
    ):
        yield client


@pytest.fixture
async def web(world: FakeWorld) -> AsyncIterator[httpx.AsyncClient]:
    async for client in client_for(world):
        yield client


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF field in the form"
    return match.group(1)


async def dev_sign_in(web: httpx.AsyncClient, sub: str = "resident-anna") -> httpx.Response:
    page = await web.get("/signin")
    return await web.post(
        "/signin", data={"csrf_token": csrf_of(page.text), "person": sub, "next": "/appeals"}
    )


async def test_every_form_post_without_the_csrf_token_is_refused(web: httpx.AsyncClient) -> None:
    await web.get("/signin")
    for path, data in [
        ("/signin", {"person": "resident-anna"}),
        ("/signout", {}),
        ("/appeals/new", {"summary": "x"}),
        ("/appeals/a1/rating", {"score": "5"}),
        ("/work/appeals/a1/answer", {"text": "x"}),
        ("/feed/read-all", {}),
    ]:
        for token in (None, "forged"):
            body = dict(data, **({"csrf_token": token} if token else {}))
            response = await web.post(path, data=body)
            # Signed-out POSTs to personal pages go to sign-in first; none of them acts.
            assert response.status_code in (303, 403), (path, response.status_code)
            if response.status_code == 303:
                assert response.headers["location"].startswith("/signin")
    signed = await dev_sign_in(web)
    assert signed.status_code == 303
    for path in ("/signout", "/feed/read-all", "/appeals/new"):
        assert (await web.post(path, data={"csrf_token": "forged"})).status_code == 403, path


async def test_the_session_cookie_is_httponly_samesite_and_hides_the_token(web: httpx.AsyncClient) -> None:
    response = await dev_sign_in(web)
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert DEV_TOKEN not in cookie  # encrypted, not just signed
    page = await web.get("/appeals")
    assert page.status_code == 200
    assert DEV_TOKEN not in page.text and DEV_TOKEN not in str(page.url)


async def test_https_deployments_get_secure_host_only_cookies(world: FakeWorld) -> None:
    async for client in client_for(world, public_url="https://appeals.example"):
        response = await client.get("/")
        cookie = response.headers["set-cookie"]
        assert cookie.startswith("__Host-appeals-session=") and "Secure" in cookie


async def test_pages_carry_a_strict_content_security_policy(web: httpx.AsyncClient) -> None:
    for path in ("/", "/signin", "/widget"):
        response = await web.get(path)
        csp = response.headers["content-security-policy"]
        assert "script-src 'self';" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert "frame-ancestors 'none'" in csp and "form-action 'self'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "<script>" not in response.text  # no inline script anywhere
        assert not re.search(r"\son[a-z]+=", response.text)  # no inline event handlers


def test_a_tampered_or_foreign_cookie_is_no_session() -> None:
    codec = SessionCodec("secret-one", 3600)
    value = codec.dumps(Session(token="t", sub="s", role="citizen"))
    assert codec.loads(value) is not None
    assert codec.loads(value[:-4] + "AAAA") is None
    assert SessionCodec("secret-two", 3600).loads(value) is None
    assert codec.loads("garbage") is None


def test_sign_in_returns_only_to_a_path_of_this_site() -> None:
    for bad in (
        "https://evil.example/",
        "//evil.example",
        "/\\evil.example",
        "",
        None,
        "javascript:alert(1)",
    ):
        assert safe_next(bad) == "/"
    assert safe_next("/appeals/new?topics=roads.*") == "/appeals/new?topics=roads.*"


async def test_the_gateway_field_errors_are_shown_next_to_the_field(
    web: httpx.AsyncClient, world: FakeWorld
) -> None:
    await dev_sign_in(web)
    form = await web.get("/appeals/new")
    world.submit_status = 422
    data = {
        "csrf_token": csrf_of(form.text),
        "kind": "complaint",
        "topic": "roads.potholes",
        "summary": "Ям",
        "description": "Яма",
        "address": "Демоград",
        "idem": "k-1",
    }
    response = await web.post("/appeals/new", data=data)
    assert response.status_code == 422
    assert 'id="summary-error"' in response.text and "Слишком коротко" in response.text
    assert 'aria-invalid="true"' in response.text
    assert 'value="Ям"' in response.text  # what was typed is kept
    world.submit_status = 201
    sent = await web.post("/appeals/new", data=data)
    assert sent.status_code == 303 and sent.headers["location"] == "/appeals/a1"
    # The same form sent twice carries the same Idempotency-Key: a retry never makes two appeals.
    keys = {r["headers"]["idempotency-key"] for r in world.appeal_requests}
    assert keys == {"k-1"}


def test_field_errors_cover_nested_places_and_unknown_types() -> None:
    error = GatewayError(
        422,
        "bad",
        [
            {"loc": ["body", "location"], "msg": "Value error, give a point", "type": "value_error"},
            {"loc": ["body", "contact", "email"], "msg": "bad email", "type": "value_error"},
            {"loc": ["body", "kind"], "msg": "x", "type": "something_new"},
        ],
    )
    assert field_errors(error) == {
        "location": "Give an address or pick a point on the map",
        "contact": "Check the e-mail address",
        "kind": "Check this value",
    }


def test_the_widget_topics_filter_keeps_only_the_organisations_topics() -> None:
    groups = topic_groups(TOPICS, "roads.*")
    assert [(name, [t["code"] for t in items]) for name, items in groups] == [
        ("Дороги", ["roads.potholes", "roads.bridges"])
    ]
    assert len(topic_groups(TOPICS, "health.appointment,roads.bridges")) == 2
    assert sum(len(items) for _, items in topic_groups(TOPICS, None)) == 3


def test_the_form_becomes_the_gateway_appeal() -> None:
    form = {
        "kind": "complaint",
        "topic": "roads.potholes",
        "summary": "Яма",
        "description": "Глубокая",
        "address": " ул. Мира, 5 ",
        "lat": "57,65",
        "lon": "43.77",
        "email": "",
        "channel": "widget",
    }
    body = appeal_body(form, ["m1"])
    assert body["location"] == {"address": "ул. Мира, 5", "lat": 57.65, "lon": 43.77}
    assert body["contact"] == {} and body["channel"] == "widget" and body["media_ids"] == ["m1"]


async def test_oidc_sign_in_with_authorization_code_and_pkce(world: FakeWorld) -> None:
    settings = {
        "oidc_issuer": ISSUER,
        "oidc_client_id": "web-client",
        "env": "production",
        "session_secret": "a-real-secret-for-this-test",
        "internal_token": "x" * 20,
    }
    async for web in client_for(world, **settings):
        login = await web.get("/auth/login?next=/appeals")
        assert login.status_code == 303
        location = login.headers["location"]
        assert location.startswith(f"{ISSUER}/authorize?")
        query = parse_qs(urlsplit(location).query)
        assert query["redirect_uri"] == ["http://web.test/auth/callback"] and query["client_id"] == [
            "web-client"
        ]
        assert "code_verifier" not in location  # only the challenge leaves the server

        # A forged state is refused; the real one signs the person in.
        callback = world.authorize(location)
        forged = re.sub(r"state=[^&]+", "state=forged", callback)
        assert (await web.get(forged)).status_code == 400
        login = await web.get("/auth/login?next=/appeals")
        done = await web.get(world.authorize(login.headers["location"]))
        assert done.status_code == 303 and done.headers["location"] == "/appeals"
        page = await web.get("/appeals")
        assert page.status_code == 200 and "Ольга" in page.text
        assert "issuer-access-token" not in page.text
        # In production the dev sign-in does not exist.
        assert (
            await web.post("/signin", data={"csrf_token": csrf_of(page.text), "person": "x"})
        ).status_code == 404


async def test_oidc_refuses_an_id_token_with_another_nonce(world: FakeWorld) -> None:
    world.id_token_nonce = "replayed-nonce"
    settings = {"oidc_issuer": ISSUER, "oidc_client_id": "web-client"}
    async for web in client_for(world, **settings):
        login = await web.get("/auth/login")
        response = await web.get(world.authorize(login.headers["location"]))
        assert response.status_code == 400
        assert (await web.get("/appeals")).status_code == 303  # still signed out


def test_every_text_of_the_interface_has_its_russian_translation() -> None:
    """The message ids in the templates and the code (`_()`, `N_()`) are all in the ru catalogue."""
    from pathlib import Path

    from babel.messages.extract import extract_from_dir

    from services.web.i18n import translations

    root = Path(__file__).resolve().parents[2] / "services" / "web"
    method_map = [("templates/**.html", "jinja2"), ("**.py", "python")]
    options = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    found = {
        message if isinstance(message, str) else message[0]
        for _, _, message, _, _ in extract_from_dir(
            str(root), method_map, options_map=options, keywords={"_": None, "N_": None}
        )
    }
    assert len(found) > 150
    catalogue = translations("ru")
    untranslated = sorted(m for m in found if catalogue.gettext(m) == m)
    assert not untranslated, untranslated
