"""Saved response templates per organisation (gateway): who may read and change them, limits."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from libs.common.auth import DEV_AUDIENCE, DEV_ISSUER, Role, TokenVerifier, issue_dev_token
from libs.common.http import install_problem_handlers
from libs.common.settings import DEV_SECRET
from libs.common.store import open_store
from services.intake.gateway import template_routes
from services.intake.gateway.template_routes import template_router


def bearer(role: Role, sub: str, org_id: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_dev_token(DEV_SECRET, sub=sub, role=role, org_id=org_id)}"}


CITY = bearer(Role.OPERATOR, "op-1", "city-admin")
ROADS = bearer(Role.OPERATOR, "op-2", "dmg-roads")
ADMIN = bearer(Role.ADMIN, "admin-1")
CITIZEN = bearer(Role.CITIZEN, "anna")
URL = "/api/v1/organizations/city-admin/response-templates"


@pytest.fixture
async def gateway() -> AsyncIterator[httpx.AsyncClient]:
    db = open_store(None, f"intake-{uuid.uuid4().hex[:8]}").db
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(template_router(db, lambda: datetime(2026, 11, 30, tzinfo=UTC)))
    app.state.verifier = TokenVerifier(issuer=DEV_ISSUER, audience=DEV_AUDIENCE, dev_secret=DEV_SECRET)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
        yield client


async def test_an_operator_keeps_templates_for_their_organisation(gateway: httpx.AsyncClient) -> None:
    made = await gateway.post(URL, json={"title": "Фонарь заменён", "text": "Лампа заменена."}, headers=CITY)
    assert made.status_code == 201, made.text
    items = (await gateway.get(URL, headers=CITY)).json()["items"]
    assert [(t["title"], t["text"]) for t in items] == [("Фонарь заменён", "Лампа заменена.")]
    assert (await gateway.get(URL, headers=ADMIN)).json()["items"] == items
    assert (await gateway.delete(f"{URL}/{made.json()['id']}", headers=CITY)).status_code == 204
    assert (await gateway.get(URL, headers=CITY)).json()["items"] == []


async def test_others_can_neither_read_nor_change_them(gateway: httpx.AsyncClient) -> None:
    made = (await gateway.post(URL, json={"title": "t", "text": "текст"}, headers=CITY)).json()
    for headers in (ROADS, CITIZEN):
        assert (await gateway.get(URL, headers=headers)).status_code == 403
        assert (
            await gateway.post(URL, json={"title": "t", "text": "ccc"}, headers=headers)
        ).status_code == 403
        assert (await gateway.delete(f"{URL}/{made['id']}", headers=headers)).status_code == 403
    assert (await gateway.get(URL)).status_code == 401
    # Another organisation's id in the path does not reach this one's template.
    other = "/api/v1/organizations/dmg-roads/response-templates"
    assert (await gateway.delete(f"{other}/{made['id']}", headers=ROADS)).status_code == 404


async def test_templates_are_validated_and_limited(
    gateway: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    for body in (
        {"title": "", "text": "текст"},
        {"title": "t", "text": "ок"},
        {"title": "t", "text": "x" * 10001},
        {"title": "t", "text": "текст", "extra": 1},
    ):
        assert (await gateway.post(URL, json=body, headers=CITY)).status_code == 422, body
    monkeypatch.setattr(template_routes, "MAX_PER_ORGANIZATION", 2)
    for i in range(2):
        assert (
            await gateway.post(URL, json={"title": f"t{i}", "text": "текст"}, headers=CITY)
        ).status_code == 201
    refused = await gateway.post(URL, json={"title": "t3", "text": "текст"}, headers=CITY)
    assert refused.status_code == 409 and "at most 2" in refused.json()["detail"]
