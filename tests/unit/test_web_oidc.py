"""Production sign-in: OpenID Connect authorization code + PKCE against a fake issuer, in-process
and on a loopback port (tests/unit/web_fakes.py)."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import httpx

from services.web.app import create_app
from services.web.settings import WebSettings
from tests.unit.web_fakes import ISSUER, FakeWorld, LoopbackIssuer, client_for, csrf_of, world

__all__ = ["world"]  # fixture


async def test_oidc_sign_in_with_authorization_code_and_pkce(world: FakeWorld) -> None:
    settings = {
        "oidc_issuer": ISSUER,
        "oidc_client_id": "web-client",
        "env": "production",
        "session_secret": "a-real-secret-for-this-test",
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


async def test_oidc_sign_in_against_an_issuer_on_a_loopback_port() -> None:
    with LoopbackIssuer() as issuer:
        world = issuer.world
        settings = {"oidc_issuer": issuer.url, "oidc_client_id": "web-client"}
        values = {
            "env": "dev",
            "gateway_url": "http://gateway.test",
            "public_url": "http://web.test",
            **settings,
        }
        # Only the gateway is faked in-process; the issuer is reached over real sockets.
        app = create_app(WebSettings(**values), httpx.MockTransport(world.handle), oidc_transport=None)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://web.test") as web,
        ):
            login = await web.get("/auth/login?next=/appeals")
            assert login.headers["location"].startswith(f"{issuer.url}/authorize?")
            done = await web.get(world.authorize(login.headers["location"]))
            assert done.status_code == 303 and done.headers["location"] == "/appeals"
            assert "Ольга" in (await web.get("/appeals")).text
