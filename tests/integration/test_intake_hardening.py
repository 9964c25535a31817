"""Issue 13, security: typed claims, the door decides the channel, limits on every write, small
leaks (monitor uploads, idempotency scopes, timeline ids, cache and security headers)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest

from libs.common.auth import DEV_AUDIENCE, DEV_ISSUER, Role
from libs.common.settings import DEV_SECRET
from tests.integration.gateway_harness import FakeServices, Gateway, running_gateway

pytestmark = pytest.mark.integration

LIMITS = {
    "submit_rate_per_minute": 1000,
    "comment_rate_per_minute": 4,
    "action_rate_per_minute": 3,
    "incident_rate_per_minute": 3,
    "upload_rate_per_minute": 1,
    "max_comments_per_appeal": 3,
    "max_comment_chars_per_appeal": 120,
}


@pytest.fixture
async def gw(rabbit_url: str, namespace: str) -> AsyncIterator[Gateway]:
    async with running_gateway(rabbit_url, namespace, **LIMITS) as gateway:
        yield gateway


def forged(**claims: Any) -> dict[str, str]:
    """A correctly signed token whose claims have the wrong types."""
    base = {"iss": DEV_ISSUER, "aud": DEV_AUDIENCE, "exp": datetime.now(UTC) + timedelta(hours=1)}
    return {"Authorization": f"Bearer {jwt.encode({**base, **claims}, DEV_SECRET, algorithm='HS256')}"}


def incident(url: str = "https://vk.com/wall-1_1") -> dict[str, Any]:
    return {
        "network": "vk",
        "post_url": url,
        "author_handle": "@resident",
        "text": "Яма у школы номер три, машины бьют колёса",
        "topic": "roads.potholes",
        "found_at": "2026-11-20T08:00:00Z",
    }


# -- 2. claims ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "op", "role": "operator", "org_id": {"$ne": "zzz"}},
        {"sub": "op", "role": "operator", "org_id": ["roads"]},
        {"sub": "op", "role": "operator", "org_id": 1},
        {"sub": ""},
        {"sub": 12345},
        {"sub": "x", "role": ["admin"]},
    ],
)
async def test_a_token_with_wrongly_typed_claims_is_401(gw: Gateway, claims: dict[str, Any]) -> None:
    await gw.route(await gw.submit(gw.token("author")))
    response = await gw.client.get("/api/v1/appeals", headers=forged(**claims))
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"
    assert "items" not in response.json()


# -- 3. the channel is decided by the door -----------------------------------------------------


async def test_a_citizen_cannot_claim_the_social_channel(gw: Gateway) -> None:
    body = {
        "kind": "complaint",
        "topic": "roads.potholes",
        "summary": "Яма у остановки",
        "description": "Глубокая яма на проезжей части.",
        "location": {"address": "ул. Школьная, 1"},
        "channel": "social",
    }
    response = await gw.client.post("/api/v1/appeals", headers=gw.token("author"), json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "social" in response.json()["detail"]
    assert not gw.events("appeal.submitted")
    mobile = await gw.client.post(
        "/api/v1/appeals", headers=gw.token("author"), json={**body, "channel": "mobile"}
    )
    assert mobile.status_code == 201


async def test_a_monitor_sees_only_its_own_incidents(gw: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    m1, m2 = gw.token("monitor-1", Role.MONITOR), gw.token("monitor-2", Role.MONITOR)
    first = await gw.client.post("/api/v1/incidents", headers=m1, json=incident())
    assert first.status_code == 201
    # Another connector reporting the same post learns nothing about the first one's appeal.
    again = await gw.client.post("/api/v1/incidents", headers=m2, json=incident())
    assert again.status_code == 409 and first.json()["id"] not in again.text
    assert first.json()["number"] not in again.text
    # Its webhook is registered as a connector's: notify then sends it only its own incidents.
    sent: list[dict[str, Any]] = []
    original = FakeServices.__call__

    def capture(self: FakeServices, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/internal/webhooks" and request.method == "POST":
            sent.append(json.loads(request.content))
            return httpx.Response(201, json={"id": "h1"})
        return original(self, request)

    monkeypatch.setattr(FakeServices, "__call__", capture)
    hook = {"url": "https://connector.example.org/hook"}
    assert (await gw.client.post("/api/v1/webhooks", headers=m2, json=hook)).status_code == 201
    assert sent[0]["scope"] == "social" and sent[0]["monitor_id"] == "monitor-2"
    # Monitors read no appeals at all.
    assert (await gw.client.get(f"/api/v1/appeals/{first.json()['id']}", headers=m1)).status_code == 403
    assert (await gw.client.get("/api/v1/appeals", headers=m1)).status_code == 403


# -- 4. limits on every write ------------------------------------------------------------------


async def test_comments_are_rate_limited_and_bounded_per_appeal(gw: Gateway) -> None:
    author = gw.token("author")
    appeal = await gw.route(await gw.submit(author))
    url = f"/api/v1/appeals/{appeal['id']}/comments"
    for n in range(3):
        ok = await gw.client.post(url, headers=author, json={"text": f"Комментарий {n}"})
        assert ok.status_code == 200, ok.text
    full = await gw.client.post(url, headers=author, json={"text": "Ещё один"})
    assert full.status_code == 409 and full.json()["reason"] == "too_many_comments"
    assert full.headers["content-type"] == "application/problem+json"
    limited = await gw.client.post(url, headers=author, json={"text": "И ещё"})
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert limited.json()["reason"] == "rate_limited"


async def test_the_comments_text_of_one_appeal_is_bounded(gw: Gateway) -> None:
    author = gw.token("author-2")
    appeal = await gw.route(await gw.submit(author))
    url = f"/api/v1/appeals/{appeal['id']}/comments"
    assert (await gw.client.post(url, headers=author, json={"text": "я" * 100})).status_code == 200
    big = await gw.client.post(url, headers=author, json={"text": "я" * 30})
    assert big.status_code == 413 and big.json()["reason"] == "comments_too_large"
    # The operator's work is never blocked by the citizen's comments.
    operator = gw.token("op-roads", Role.OPERATOR, "roads")
    taken = await gw.client.post(f"/api/v1/appeals/{appeal['id']}/take", headers=operator)
    assert taken.status_code == 200, taken.text


async def test_incidents_uploads_and_other_writes_are_rate_limited_per_caller(gw: Gateway) -> None:
    monitor = gw.token("monitor-9", Role.MONITOR)
    codes = [
        (
            await gw.client.post(
                "/api/v1/incidents", headers=monitor, json=incident(f"https://vk.com/wall-9_{n}")
            )
        ).status_code
        for n in range(4)
    ]
    assert codes == [201, 201, 201, 429]
    other = gw.token("monitor-10", Role.MONITOR)
    assert (await gw.client.post("/api/v1/incidents", headers=other, json=incident())).status_code == 201

    uploader = gw.token("uploader")
    files = {"file": ("a.png", b"\x89PNG\r\n\x1a\n", "image/png")}
    await gw.client.post("/api/v1/media", headers=uploader, files=files)  # media itself is a fake here
    second = await gw.client.post("/api/v1/media", headers=uploader, files=files)
    assert second.status_code == 429

    settings = gw.token("settings-fan")
    prefs = {"email": True, "push": False}
    statuses = [
        (await gw.client.put("/api/v1/me/notification-preferences", headers=settings, json=prefs)).status_code
        for _ in range(4)
    ]
    assert statuses[-1] == 429 and 429 not in statuses[:3]


# -- 6. the smaller ones -----------------------------------------------------------------------


async def test_a_monitor_cannot_upload_media(gw: Gateway) -> None:
    files = {"file": ("a.png", b"\x89PNG\r\n\x1a\n", "image/png")}
    response = await gw.client.post("/api/v1/media", headers=gw.token("m", Role.MONITOR), files=files)
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"


async def test_idempotency_scopes_do_not_collide_when_sub_contains_a_colon(gw: Gateway) -> None:
    body = {
        "kind": "question",
        "topic": "roads.potholes",
        "summary": "Когда отремонтируют?",
        "description": "Вопрос о ремонте дороги.",
        "location": {"address": "ул. Мира, 3"},
    }
    first = await gw.client.post(
        "/api/v1/appeals", headers={**gw.token("a:b"), "Idempotency-Key": "c"}, json=body
    )
    second = await gw.client.post(
        "/api/v1/appeals", headers={**gw.token("a"), "Idempotency-Key": "b:c"}, json=body
    )
    assert first.status_code == second.status_code == 201
    assert "idempotent-replayed" not in second.headers
    assert first.json()["id"] != second.json()["id"]  # not someone else's appeal


async def test_citizens_see_the_organisation_not_the_operators_id(gw: Gateway) -> None:
    author = gw.token("author-3")
    appeal = await gw.route(await gw.submit(author))
    operator = gw.token("op-roads", Role.OPERATOR, "roads")
    assert (await gw.client.post(f"/api/v1/appeals/{appeal['id']}/take", headers=operator)).status_code == 200
    seen = (await gw.client.get(f"/api/v1/appeals/{appeal['id']}", headers=author)).json()
    taken = next(entry for entry in seen["timeline"] if entry["action"] == "take")
    assert taken["actor"] == {
        "role": "operator",
        "id": None,
        "org_id": "roads",
        "org_name": "Дорожное управление",
    }
    assert "op-roads" not in str(seen)
    submitted = next(entry for entry in seen["timeline"] if entry["action"] == "submit")
    assert submitted["actor"]["id"] == "author-3"  # their own
    staff = (await gw.client.get(f"/api/v1/appeals/{appeal['id']}", headers=operator)).json()
    assert next(e for e in staff["timeline"] if e["action"] == "take")["actor"]["id"] == "op-roads"


async def test_personal_responses_are_not_stored_and_every_response_is_nosniff(gw: Gateway) -> None:
    author = gw.token("author-4")
    appeal = await gw.submit(author)
    mine = await gw.client.get(f"/api/v1/appeals/{appeal['id']}", headers=author)
    assert mine.headers["cache-control"] == "no-store"
    assert mine.headers["x-content-type-options"] == "nosniff"
    refused = await gw.client.get(f"/api/v1/appeals/{appeal['id']}", headers=gw.token("stranger"))
    assert refused.headers["cache-control"] == "no-store"
    health = await gw.client.get("/health")
    assert health.headers["x-content-type-options"] == "nosniff" and "cache-control" not in health.headers
    too_big = await gw.client.post("/api/v1/appeals", headers=author, content=b"{" * 300_000, timeout=30)
    assert too_big.status_code == 413 and too_big.headers["x-content-type-options"] == "nosniff"
