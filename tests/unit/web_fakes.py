"""Fakes of the web tests: the gateway's public API and an OIDC issuer (in-process, or on a
loopback port), and helpers to sign in through the pages."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import httpx2
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from services.web.app import create_app
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

    def __init__(self, issuer: str = ISSUER) -> None:
        self.issuer_url = issuer
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
        self.codes: dict[str, dict[str, str]] = {}
        self.appeal_requests: list[dict[str, Any]] = []
        self.submit_status = 201
        self.public_appeals: dict[str, dict[str, Any]] = {}  # number -> the gateway's PublicAppeal
        self.paths: list[str] = []  # every gateway path asked, in order
        self.id_token_nonce: str | None = None  # None: echo the nonce the client sent

    def handle(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if f"{url.scheme}://{url.netloc.decode()}" == self.issuer_url:
            return self.issuer(request)
        if url.host == "files.test":  # the object store behind a signed link
            return httpx.Response(200, content=b"\xff\xd8jpeg", headers={"content-type": "image/jpeg"})
        path = url.path.removeprefix("/api/v1")
        self.paths.append(path)
        if path.startswith("/public/appeals/"):
            found = self.public_appeals.get(path.removeprefix("/public/appeals/"))
            if found is None:
                return httpx.Response(404, json={"status": 404, "detail": "no public appeal"})
            return httpx.Response(200, json=found)
        if path.startswith("/media/") and request.method == "GET":
            if url.params.get("variant") == "thumb":  # copies not made (yet): media says 404
                return httpx.Response(404, json={"status": 404, "detail": "variant missing"})
            return httpx.Response(307, headers={"location": "http://files.test/m1?X-Amz-Signature=secret"})
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
                    "issuer": self.issuer_url,
                    "authorization_endpoint": f"{self.issuer_url}/authorize",
                    "token_endpoint": f"{self.issuer_url}/token",
                    "jwks_uri": f"{self.issuer_url}/jwks",
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
                "iss": self.issuer_url,
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


def issuer_transport(world: FakeWorld) -> httpx2.MockTransport:
    """The fake world as the OIDC client sees it: that client speaks httpx2 (authlib's HTTP client),
    the fakes httpx; each request and answer is carried across unchanged."""

    def handle(request: httpx2.Request) -> httpx2.Response:
        asked = httpx.Request(
            request.method, str(request.url), headers=request.headers.raw, content=request.content
        )
        answer = world.handle(asked)
        return httpx2.Response(answer.status_code, headers=answer.headers.raw, content=answer.content)

    return httpx2.MockTransport(handle)


async def client_for(world: FakeWorld, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    values = {"env": "dev", "gateway_url": "http://gateway.test", "public_url": "http://web.test", **settings}
    app = create_app(WebSettings(**values), httpx.MockTransport(world.handle), issuer_transport(world))
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


class LoopbackIssuer:
    """The fake issuer as a real HTTP server on a loopback port (uvicorn in a thread), so the
    sign-in goes through authlib's own HTTP client and sockets, not an in-process transport."""

    def __init__(self) -> None:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.world = FakeWorld(self.url)

    def app(self) -> Any:
        from starlette.requests import Request
        from starlette.responses import Response

        async def asgi(scope: Any, receive: Any, send: Any) -> None:
            request = Request(scope, receive)
            body = await request.body()
            answer = self.world.handle(
                httpx.Request(request.method, str(request.url), headers=request.headers.raw, content=body)
            )
            await Response(answer.content, answer.status_code, headers=dict(answer.headers))(
                scope, receive, send
            )

        return asgi

    def __enter__(self) -> LoopbackIssuer:
        import threading
        import time

        import uvicorn

        config = uvicorn.Config(self.app(), host="127.0.0.1", port=self.port, log_config=None, lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:  # wait for the condition, with a limit
            assert time.monotonic() < deadline, "the loopback issuer did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
