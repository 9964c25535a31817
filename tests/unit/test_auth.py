import asyncio
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI

from libs.common.auth import DEV_AUDIENCE, DEV_ISSUER, InvalidToken, Role, TokenVerifier, issue_dev_token
from libs.common.http import install_problem_handlers, ops_router
from services.intake.security import CurrentPrincipal

KEY = "unit-test-key-of-sufficient-length-000"


def verifier() -> TokenVerifier:
    return TokenVerifier(issuer=DEV_ISSUER, audience=DEV_AUDIENCE, dev_secret=KEY)


def signed(**claims: Any) -> str:
    base = {"iss": DEV_ISSUER, "aud": DEV_AUDIENCE, "exp": datetime.now(UTC) + timedelta(hours=1)}
    return jwt.encode({**base, **claims}, KEY, algorithm="HS256")


async def test_round_trip_of_a_dev_token() -> None:
    principal = await verifier().verify(
        issue_dev_token(KEY, sub="op-1", role=Role.OPERATOR, org_id="min-health")
    )
    assert (principal.sub, principal.role, principal.org_id) == ("op-1", Role.OPERATOR, "min-health")
    citizen = await verifier().verify(signed(sub="open311:client"))  # no role: a citizen
    assert citizen.role is Role.CITIZEN and citizen.org_id is None


@pytest.mark.parametrize(
    "token",
    [
        issue_dev_token("another-key-entirely-0000000000000", sub="x", role=Role.CITIZEN),
        issue_dev_token(KEY, sub="x", role=Role.CITIZEN, ttl=timedelta(seconds=-5)),
        issue_dev_token(KEY, sub="x", role=Role.OPERATOR),  # an operator without an organisation
        jwt.encode({"sub": "x", "role": "citizen"}, KEY, algorithm="HS256"),  # no exp/iss/aud
        signed(sub="x", role="emperor"),
        "not-a-token",
    ],
)
async def test_bad_tokens_are_refused(token: str) -> None:
    with pytest.raises(InvalidToken):
        await verifier().verify(token)


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "op", "role": "operator", "org_id": {"$ne": "zzz"}},  # reached a Mongo filter
        {"sub": "op", "role": "operator", "org_id": ["roads", "city"]},
        {"sub": "op", "role": "operator", "org_id": 7},
        {"sub": "op", "role": "operator", "org_id": ""},
        {"sub": "op", "role": "operator", "org_id": "roads city"},
        {"sub": "op", "role": "operator", "org_id": "x" * 200},
        {"sub": "me", "role": "citizen", "org_id": {"$gt": ""}},
        {"sub": ""},
        {"sub": "   "},
        {"sub": 42},
        {"sub": ["a"]},
        {"sub": {"$ne": "x"}},
        {"sub": "a\x00b"},
        {"sub": "a\u200bb"},  # a format character
        {"sub": "x" * 300},
        {"sub": "x", "role": ["admin"]},
        {"sub": "x", "role": 1},
        {"sub": "x", "role": {"$ne": "citizen"}},
    ],
)
async def test_claims_of_the_wrong_type_or_shape_are_refused(claims: dict[str, Any]) -> None:
    with pytest.raises(InvalidToken, match=r"(?i)wrong type or shape|sub"):
        await verifier().verify(signed(**claims))


# -- JWKS: fetched off the event loop, errors never shown --------------------------------------

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwks_document() -> bytes:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(RSA_KEY.public_key()))
    return json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()


def rs256(**claims: Any) -> str:
    base = {"iss": "issuer", "aud": DEV_AUDIENCE, "exp": datetime.now(UTC) + timedelta(hours=1)}
    return jwt.encode({**base, **claims}, RSA_KEY, algorithm="RS256", headers={"kid": "k1"})


class SlowIssuer(BaseHTTPRequestHandler):
    delay = 0.0
    status = 200

    def do_GET(self) -> None:
        time.sleep(self.delay)
        body = jwks_document() if self.status == 200 else b"upstream secret: internal trace"
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def issuer(delay: float, status: int = 200) -> Iterator[str]:
    handler = type("Handler", (SlowIssuer,), {"delay": delay, "status": status})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def slow_issuer() -> Iterator[str]:
    yield from issuer(delay=1.5)


@pytest.fixture
def broken_issuer() -> Iterator[str]:
    yield from issuer(delay=0, status=500)


def gateway(jwks_url: str) -> httpx.AsyncClient:
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(ops_router({}))

    @app.get("/me")
    async def me(principal: CurrentPrincipal) -> dict[str, str]:
        return {"sub": principal.sub}

    app.state.verifier = TokenVerifier(
        issuer="issuer", audience=DEV_AUDIENCE, jwks_url=jwks_url, jwks_timeout_seconds=5
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw")


async def test_a_slow_jwks_fetch_does_not_block_the_event_loop(slow_issuer: str) -> None:
    async with gateway(slow_issuer) as client:
        auth = {"Authorization": f"Bearer {rs256(sub='resident')}"}
        pending = asyncio.create_task(client.get("/me", headers=auth))
        await asyncio.sleep(0.2)  # the fetch has started and waits on the slow issuer
        started = time.perf_counter()
        health = await client.get("/health")
        took = time.perf_counter() - started
        assert health.status_code == 200 and took < 0.5, took
        assert not pending.done()  # /health answered while the fetch was still waiting
        response = await pending
        assert response.status_code == 200 and response.json() == {"sub": "resident"}
        cached = time.perf_counter()
        assert (await client.get("/me", headers=auth)).status_code == 200
        assert time.perf_counter() - cached < 0.5  # the key set is cached


async def test_a_failed_jwks_fetch_is_a_401_without_the_error_text(broken_issuer: str) -> None:
    async with gateway(broken_issuer) as client:
        response = await client.get("/me", headers={"Authorization": f"Bearer {rs256(sub='x')}"})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    detail = response.json()["detail"]
    assert "127.0.0.1" not in detail and "500" not in detail and "secret" not in detail
    assert "Fail" not in detail and "jwks" not in detail.lower()


async def test_a_wrongly_typed_claim_is_a_401_problem(slow_issuer: str) -> None:
    async with gateway(slow_issuer) as client:
        token = rs256(sub="op", role="operator", org_id={"$ne": "zzz"})
        response = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"] == "application/problem+json"
    assert "org_id" in response.json()["detail"]
