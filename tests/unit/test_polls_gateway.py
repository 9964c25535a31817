"""The gateway's poll routes over routing's real internal API (catalogue areas, text moderation)
and polls' internal API, both in-process over the in-memory store; no broker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from libs.common.auth import DEV_AUDIENCE, DEV_ISSUER, Role, TokenVerifier, issue_dev_token
from libs.common.clock import ManualClock
from libs.common.http import install_problem_handlers
from libs.common.settings import DEV_SECRET
from services.intake.gateway.clients import InternalClients
from services.intake.gateway.polls_routes import polls_router
from services.intake.settings import IntakeSettings
from services.polls.routes import internal_router as polls_internal
from services.polls.settings import PollsSettings
from services.routing.routes import internal_router as routing_internal
from tests.unit.test_polls_flows import memory_db, replica
from tests.unit.test_routing_flows import harness

NOW = datetime.now(UTC)


def bearer(role: Role, sub: str, org_id: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_dev_token(DEV_SECRET, sub=sub, role=role, org_id=org_id)}"}


OPERATOR = bearer(Role.OPERATOR, "op-1", "city-admin")
ADMIN = bearer(Role.ADMIN, "admin-1")
CITIZEN = bearer(Role.CITIZEN, "citizen-1")


@pytest.fixture
async def gateway() -> AsyncIterator[httpx.AsyncClient]:
    routing = await harness()
    flows, _ = replica(memory_db(), ManualClock(NOW))
    await flows.ensure_indexes()
    internal = FastAPI()
    install_problem_handlers(internal)
    internal.include_router(
        routing_internal(routing.catalogue, routing.flows, routing.clusters, routing.settings)
    )
    internal.include_router(polls_internal(flows, PollsSettings(env="dev")))
    app = FastAPI()
    install_problem_handlers(app)
    clients = InternalClients(IntakeSettings(env="dev"), httpx.ASGITransport(app=internal))
    app.include_router(polls_router(clients))
    app.state.verifier = TokenVerifier(issuer=DEV_ISSUER, audience=DEV_AUDIENCE, dev_secret=DEV_SECRET)
    async with clients, app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield client


def body(**changes: Any) -> dict[str, Any]:
    return {
        "kind": "hearing",
        "title": "Реконструкция парка",
        "questions": [
            {"text": "Поддерживаете?", "kind": "single", "options": ["Да", "Нет"]},
            {"text": "Ваше мнение", "kind": "opinion"},
        ],
        "area_ids": ["demograd"],
        "closes_at": (NOW + timedelta(days=3)).isoformat(),
        **changes,
    }


async def test_areas_and_organisations_come_from_routings_catalogue(gateway: httpx.AsyncClient) -> None:
    unknown = await gateway.post("/api/v1/polls", headers=OPERATOR, json=body(area_ids=["atlantis"]))
    assert unknown.status_code == 422 and unknown.json()["reason"] == "unknown_area"
    assert unknown.headers["content-type"] == "application/problem+json"
    made = await gateway.post("/api/v1/polls", headers=OPERATOR, json=body())
    assert made.status_code == 201 and made.json()["organization_id"] == "city-admin"
    foreign = await gateway.post("/api/v1/polls", headers=OPERATOR, json=body(organization_id="min-health"))
    assert foreign.status_code == 403
    by_admin = await gateway.post("/api/v1/polls", headers=ADMIN, json=body(organization_id="no-such-org"))
    assert by_admin.status_code == 422 and by_admin.json()["reason"] == "unknown_organization"
    by_admin = await gateway.post("/api/v1/polls", headers=ADMIN, json=body(organization_id="min-health"))
    assert by_admin.status_code == 201 and by_admin.json()["organization_id"] == "min-health"
    bad_shape = await gateway.post("/api/v1/polls", headers=OPERATOR, json=body(questions=[]))
    assert bad_shape.status_code == 422


async def test_opinions_go_through_the_appeals_moderation(gateway: httpx.AsyncClient) -> None:
    poll = (await gateway.post("/api/v1/polls", headers=OPERATOR, json=body())).json()
    assert (await gateway.post(f"/api/v1/polls/{poll['id']}/publish", headers=OPERATOR)).status_code == 200
    path = f"/api/v1/polls/{poll['id']}/ballot"
    for text in ["бля, опять парк", "ок", "!!!"]:  # profanity, too short, no letters
        refused = await gateway.post(
            path, headers=CITIZEN, json={"answers": [{"question_id": "q2", "text": text}]}
        )
        assert refused.status_code == 422, text
        assert refused.json()["reason"] == "moderation" and refused.json()["detail"]
    fine = {"answers": [{"question_id": "q2", "text": "Прошу сохранить старые липы у входа"}]}
    assert (await gateway.post(path, headers=CITIZEN, json=fine)).status_code == 201
    wrong = await gateway.post(
        path, headers=CITIZEN, json={"answers": [{"question_id": "q1", "option_ids": ["o9"]}]}
    )
    assert wrong.status_code == 422 and wrong.json()["reason"] == "unknown_option"
