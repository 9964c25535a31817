"""notify's Web Push end to end in-process over the real RabbitMQ: a local push service that
decrypts each message (aes128gcm, RFC 8291) and checks its VAPID JWT (RFC 8292) itself, and says
when a subscription is gone."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import http_ece
import jwt
import pytest
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from devstack.mailsink import free_port
from libs.common.events import EventType
from tests.infra import eventually
from tests.integration.test_notify_channels import SUBJECT, running
from tests.integration.test_notify_smtp import (
    AUTHOR,
    QUIET,
    first_routed,
    handled,
    submitted,
    wait_handled,
)

pytestmark = pytest.mark.integration


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Browser:
    """One browser's push subscription: its own ECDH key pair and auth secret."""

    name: str
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    def subscription(self, base_url: str) -> dict[str, Any]:
        point = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": f"{base_url}/push/{self.name}",
            "keys": {"p256dh": b64(point), "auth": b64(self.auth)},
        }


class PushService:
    """A push service on loopback: decrypts what it receives and checks the VAPID signature."""

    def __init__(self) -> None:
        self.port = free_port()
        self.browsers: dict[str, Browser] = {}
        self.gone: set[str] = set()
        self.received: list[dict[str, Any]] = []
        self.problems: list[str] = []
        app = Starlette(routes=[Route("/push/{name}", self._push, methods=["POST"])])
        self._server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        )
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def browser(self, name: str) -> Browser:
        self.browsers[name] = Browser(name)
        return self.browsers[name]

    async def _push(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name in self.gone:
            return Response(status_code=410)
        body = await request.body()
        try:
            scheme, _, params = request.headers["authorization"].partition(" ")
            fields = dict(part.split("=", 1) for part in params.split(","))
            assert scheme == "vapid", scheme
            point = unb64(fields["k"])
            key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
            claims = jwt.decode(fields["t"], key, algorithms=["ES256"], audience=self.base_url)
            assert claims["sub"] == SUBJECT and claims["exp"] > datetime.now(UTC).timestamp()
            assert request.headers["content-encoding"] == "aes128gcm"
            browser = self.browsers[name]
            clear = http_ece.decrypt(
                body, private_key=browser.key, auth_secret=browser.auth, version="aes128gcm"
            )
        except Exception as exc:  # recorded, so the test fails with the reason
            self.problems.append(f"{type(exc).__name__}: {exc}")
            return Response(status_code=400)
        self.received.append(
            {
                "browser": name,
                "vapid_key": fields["k"],
                "urgency": request.headers.get("urgency"),
                "payload": json.loads(clear),
            }
        )
        return Response(status_code=201)

    def __enter__(self) -> PushService:
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the push service did not start")
            threading.Event().wait(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


@pytest.fixture
def push_service() -> Iterator[PushService]:
    with PushService() as service:
        yield service


async def test_push_is_encrypted_signed_and_gone_subscriptions_are_removed(
    rabbit_url: str, mongo_url: str | None, namespace: str, push_service: PushService
) -> None:
    routed_count = handled(EventType.APPEAL_ROUTED)
    async with running(rabbit_url, mongo_url, namespace, channels="feed,push") as notify:
        public_key = (await notify.http.get("/internal/push/vapid-public-key")).json()["public_key"]
        for name in ("phone", "old-laptop"):
            sub = push_service.browser(name).subscription(push_service.base_url)
            response = await notify.http.post(f"/internal/push-subscriptions/{AUTHOR}", json=sub)
            assert response.status_code == 201, response.text
        push_service.gone.add("old-laptop")

        first = first_routed("appeal-p", "2026-000901")
        await notify.publish(submitted("appeal-p", "2026-000901"))
        await notify.publish(first)

        async def pushed() -> list[dict[str, Any]]:
            return push_service.received

        [push] = await eventually(pushed, timeout=15)
        assert push_service.problems == []
        assert push["browser"] == "phone" and push["vapid_key"] == public_key
        assert push["payload"]["title"] == "Обращение № 2026-000901 зарегистрировано"
        assert push["payload"]["appeal_id"] == "appeal-p" and push["urgency"] == "normal"

        async def laptop_removed() -> bool:
            subs = (await notify.http.get(f"/internal/push-subscriptions/{AUTHOR}")).json()
            return len(subs) == 1

        await eventually(laptop_removed, timeout=10)

        before = routed_count()
        await notify.publish(first)  # redelivered: nothing is sent twice
        await wait_handled(routed_count, before + 1)
        await asyncio.sleep(QUIET)
        assert len(push_service.received) == 1
