"""The gateway and the services it calls validate with the same contract classes
(libs/common/contracts/): a body the service would refuse is refused at the gateway's door with
the same 422, before any internal call is made. (Before, the gateway's hand-made copies had
drifted: it took a 200-character `p256dh` that notify refuses.)"""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from libs.common.auth import INTERNAL_TOKEN_HEADER, Role, issue_dev_token
from libs.common.clock import ManualClock
from libs.common.settings import DEV_SECRET
from services.intake.app import create_app as create_gateway
from services.intake.settings import IntakeSettings
from services.notify.app import create_app as create_notify
from services.notify.settings import NotifySettings

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
P256DH = base64.urlsafe_b64encode(b"\x04" + b"\x01" * 64).rstrip(b"=").decode()
AUTH_SECRET = base64.urlsafe_b64encode(b"\x02" * 16).rstrip(b"=").decode()
CITIZEN = {"Authorization": f"Bearer {issue_dev_token(DEV_SECRET, sub='citizen-1', role=Role.CITIZEN)}"}
ADMIN = {"Authorization": f"Bearer {issue_dev_token(DEV_SECRET, sub='admin-1', role=Role.ADMIN)}"}


@dataclass
class Counted(httpx.AsyncBaseTransport):
    """Notify in-process, counting the gateway's internal calls."""

    app: FastAPI
    paths: list[str] = field(default_factory=list)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        return await httpx.ASGITransport(app=self.app).handle_async_request(request)


@dataclass
class Sides:
    gateway: httpx.AsyncClient
    notify: httpx.AsyncClient
    calls: Counted


@pytest.fixture
async def sides() -> AsyncIterator[Sides]:
    namespace = f"unit-{uuid.uuid4().hex[:8]}"
    settings = NotifySettings(env="dev", namespace=namespace, allow_loopback_targets=True)
    notify = create_notify(settings, clock=ManualClock(NOW))
    calls = Counted(notify)
    gateway = create_gateway(IntakeSettings(env="dev", namespace=namespace), upstream_transport=calls)
    token = {INTERNAL_TOKEN_HEADER: settings.internal_token.get_secret_value()}
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gw") as gw,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=notify), base_url="http://n", headers=token) as n,
    ):
        yield Sides(gw, n, calls)


def subscription(p256dh: str = P256DH, auth: str = AUTH_SECRET) -> dict[str, Any]:
    return {"endpoint": "http://127.0.0.1:9/push/1", "keys": {"p256dh": p256dh, "auth": auth}}


@pytest.mark.parametrize(
    "keys",
    [
        {"p256dh": "A" * 200},  # the gateway's old copy allowed up to 200
        {"p256dh": "A" * 79},
        {"auth": "A" * 100},  # ... and an auth secret of up to 100
        {"auth": "A" * 15},
    ],
)
async def test_a_push_subscription_notify_would_refuse_is_refused_at_the_gateway(
    sides: Sides, keys: dict[str, str]
) -> None:
    body = subscription(**keys)
    refused = await sides.gateway.post("/api/v1/me/push-subscriptions", json=body, headers=CITIZEN)
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert next(iter(keys)) in refused.json()["detail"]
    assert sides.calls.paths == []  # refused at the door: notify was never asked
    # notify refuses the very same body with the same status
    direct = await sides.notify.post("/internal/push-subscriptions/citizen-1", json=body)
    assert direct.status_code == 422


async def test_a_valid_subscription_passes_both_sides(sides: Sides) -> None:
    created = await sides.gateway.post("/api/v1/me/push-subscriptions", json=subscription(), headers=CITIZEN)
    assert created.status_code == 201, created.text
    assert sides.calls.paths == ["/internal/push-subscriptions/citizen-1"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        # quiet hours: notify checks the zone and that start and end differ; the old copy did not
        (
            "/api/v1/me/notification-preferences",
            {"quiet_hours": {"start": "22:00", "end": "08:00", "timezone": "Mars/Olympus"}},
        ),
        ("/api/v1/me/notification-preferences", {"quiet_hours": {"start": "22:00", "end": "22:00"}}),
        # a webhook URL shorter than notify's minimum
        ("/api/v1/webhooks", {"url": "http:/", "org_id": "org-1"}),
    ],
)
async def test_other_drifted_copies_are_refused_at_the_door(
    sides: Sides, path: str, body: dict[str, Any]
) -> None:
    method = sides.gateway.put if "preferences" in path else sides.gateway.post
    refused = await method(path, json=body, headers=ADMIN)
    assert refused.status_code == 422, refused.text
    assert sides.calls.paths == []
