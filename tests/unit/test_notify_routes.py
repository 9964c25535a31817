"""notify's internal feed API over the in-memory store (no broker: the lifespan is not entered)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from libs.common.clock import ManualClock
from libs.common.settings import DEV_SECRET
from libs.common.store import Database
from services.notify.app import create_app
from services.notify.settings import NotifySettings

AUTH = {"X-Internal-Token": DEV_SECRET}
START = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
async def api() -> AsyncIterator[tuple[httpx.AsyncClient, Database]]:
    settings = NotifySettings(env="dev", namespace=f"unit-{uuid.uuid4().hex[:8]}", mongo_url=None)
    app = create_app(settings, clock=ManualClock(START))
    db: Database = app.state.runtime.db
    for i in range(3):
        await db["feed"].insert_one(
            {
                "_id": f"n{i}",
                "owner": "user:u1",
                "appeal_id": f"a{i}",
                "number": f"2026-00000{i}",
                "kind": "registered",
                "title": f"title {i}",
                "body": f"body {i}",
                "created_at": START + timedelta(minutes=i),
                "read_by": [],
                "event_id": f"e{i}",
            }
        )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://notify") as client:
        yield client, db


async def test_feed_is_newest_first_with_counts(api: tuple[httpx.AsyncClient, Database]) -> None:
    client, _ = api
    response = await client.get("/internal/feed/u1", headers=AUTH)
    assert response.status_code == 200
    page = response.json()
    assert [item["id"] for item in page["items"]] == ["n2", "n1", "n0"]
    assert page["total"] == 3 and page["unread"] == 3
    assert set(page["items"][0]) == {
        "id",
        "appeal_id",
        "number",
        "kind",
        "title",
        "body",
        "detail",
        "urgent",
        "for_organization",
        "created_at",
        "read",
    }


async def test_feed_pages(api: tuple[httpx.AsyncClient, Database]) -> None:
    client, _ = api
    page = (await client.get("/internal/feed/u1", params={"limit": 2, "offset": 2}, headers=AUTH)).json()
    assert [item["id"] for item in page["items"]] == ["n0"]
    assert page["total"] == 3


async def test_mark_read(api: tuple[httpx.AsyncClient, Database]) -> None:
    client, _ = api
    response = await client.post("/internal/feed/u1/n1/read", headers=AUTH)
    assert response.status_code == 204
    page = (await client.get("/internal/feed/u1", headers=AUTH)).json()
    assert page["unread"] == 2
    assert [item["read"] for item in page["items"]] == [False, True, False]
    assert (await client.post("/internal/feed/u1/n1/read", headers=AUTH)).status_code == 204  # idempotent


async def test_only_the_owner_can_mark_read(api: tuple[httpx.AsyncClient, Database]) -> None:
    client, db = api
    response = await client.post("/internal/feed/someone-else/n1/read", headers=AUTH)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert (await db["feed"].find_one({"_id": "n1"}) or {})["read_by"] == []
    assert (await client.post("/internal/feed/u1/nope/read", headers=AUTH)).status_code == 404


async def test_empty_feed(api: tuple[httpx.AsyncClient, Database]) -> None:
    client, _ = api
    assert (await client.get("/internal/feed/nobody", headers=AUTH)).json() == {
        "items": [],
        "total": 0,
        "unread": 0,
    }


@pytest.mark.parametrize("headers", [{}, {"X-Internal-Token": "wrong"}])
async def test_internal_token_required(
    api: tuple[httpx.AsyncClient, Database], headers: dict[str, str]
) -> None:
    client, _ = api
    assert (await client.get("/internal/feed/u1", headers=headers)).status_code == 401
    assert (await client.post("/internal/feed/u1/n1/read", headers=headers)).status_code == 401


async def test_limit_is_bounded(api: tuple[httpx.AsyncClient, Database]) -> None:
    client, _ = api
    response = await client.get("/internal/feed/u1", params={"limit": 1000}, headers=AUTH)
    assert response.status_code == 422
