"""The gateway's statistics routes over the deadlines' internal API (both apps in-process)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI

from libs.common.auth import DEV_AUDIENCE, DEV_ISSUER, Role, TokenVerifier, issue_dev_token
from libs.common.clock import ManualClock
from libs.common.http import install_problem_handlers
from libs.common.settings import DEV_SECRET
from services.deadlines.app import create_app as create_deadlines
from services.deadlines.settings import DeadlinesSettings
from services.intake.app import create_app as create_intake
from services.intake.gateway.clients import DeadlinesClient
from services.intake.gateway.stats_routes import stats_router
from services.intake.settings import IntakeSettings
from tests.unit.test_deadlines_stats import PERIOD, T0, Scenario, play


def bearer(role: Role, org_id: str | None = None) -> dict[str, str]:
    token = issue_dev_token(DEV_SECRET, sub=f"{role}-1", role=role, org_id=org_id)
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def gateway() -> AsyncIterator[httpx.AsyncClient]:
    settings = DeadlinesSettings(env="dev", public_min_received=2)
    clock = ManualClock(T0 - timedelta(days=10))
    deadlines = create_deadlines(settings, clock)
    await play(Scenario(deadlines.state.flows, clock, settings))
    app = FastAPI()
    install_problem_handlers(app)
    stats = DeadlinesClient(IntakeSettings(env="dev"), httpx.ASGITransport(app=deadlines))
    app.include_router(stats_router(stats))
    app.state.verifier = TokenVerifier(issuer=DEV_ISSUER, audience=DEV_AUDIENCE, dev_secret=DEV_SECRET)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
        yield client
    await stats.close()


async def test_admin_sees_every_organisation_and_topic(gateway: httpx.AsyncClient) -> None:
    admin = bearer(Role.ADMIN)
    table = await gateway.get("/api/v1/stats/organizations", params=PERIOD, headers=admin)
    assert table.status_code == 200, table.text
    assert [row["organization"]["id"] for row in table.json()["items"]] == ["org-parks", "org-roads"]
    topics = await gateway.get("/api/v1/stats/topics", params=PERIOD, headers=admin)
    assert [row["topic"] for row in topics.json()["items"]] == ["parks.trees", "roads.potholes"]


async def test_an_operator_sees_only_its_own_organisation(gateway: httpx.AsyncClient) -> None:
    operator = bearer(Role.OPERATOR, "org-roads")
    table = (await gateway.get("/api/v1/stats/organizations", params=PERIOD, headers=operator)).json()
    assert [row["organization"]["id"] for row in table["items"]] == ["org-roads"]
    assert (await gateway.get("/api/v1/stats/topics", headers=operator)).status_code == 403


async def test_citizens_and_strangers_get_the_public_ranking_only(gateway: httpx.AsyncClient) -> None:
    citizen = bearer(Role.CITIZEN)
    assert (await gateway.get("/api/v1/stats/organizations", headers=citizen)).status_code == 403
    assert (await gateway.get("/api/v1/stats/organizations")).status_code == 401
    public = await gateway.get("/api/v1/stats/public", params=PERIOD)
    assert public.status_code == 200
    body = public.json()
    assert body["min_received"] == 2  # parks (1 appeal) is too small to be shown
    assert [(r["rank"], r["organization"]["name"], r["answered_pct"]) for r in body["items"]] == [
        (1, "Дорожное хозяйство", 75.0)
    ]


async def test_errors_of_deadlines_pass_through_as_problems(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/api/v1/stats/public", params={"from": PERIOD["to"], "to": PERIOD["from"]})
    assert response.status_code == 422
    assert "earlier" in response.json()["detail"]


async def test_deadlines_unreachable_is_503() -> None:
    app = FastAPI()
    install_problem_handlers(app)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    stats = DeadlinesClient(IntakeSettings(env="dev"), httpx.MockTransport(refuse))
    app.include_router(stats_router(stats))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
        response = await client.get("/api/v1/stats/public")
    await stats.close()
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"


def test_the_gateway_app_mounts_the_statistics_routes() -> None:
    paths = set(create_intake(IntakeSettings(env="dev")).openapi()["paths"])
    assert {"/api/v1/stats/organizations", "/api/v1/stats/topics", "/api/v1/stats/public"} <= paths
