"""The gateway's door for inputs other platforms' bug reports found (issue #13 items 7 and 9):
invisible characters in texts, internationalised e-mail addresses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from libs.common.auth import Role
from libs.common.events import AppealRoutedV1, DeadlineArmedV1, EventType, RoutingReason, TimerKind
from tests.infra import eventually
from tests.integration.gateway_harness import ORGS, Gateway, running_gateway

pytestmark = pytest.mark.integration

BODY: dict[str, Any] = {
    "kind": "complaint",
    "topic": "roads.potholes",
    "summary": "Яма у остановки",
    "description": "Глубокая яма на проезжей части у остановки «Школа».",
    "location": {"lat": 55.7, "lon": 37.6, "address": "ул. Школьная, 1"},
}


@pytest.fixture
async def gw(rabbit_url: str, namespace: str) -> AsyncIterator[Gateway]:
    async with running_gateway(rabbit_url, namespace, submit_rate_per_minute=100) as gateway:
        yield gateway


@pytest.fixture
async def gw_utf8(rabbit_url: str, namespace: str) -> AsyncIterator[Gateway]:
    async with running_gateway(
        rabbit_url, namespace, submit_rate_per_minute=100, mail_smtputf8=True
    ) as gateway:
        yield gateway


async def submit(gw: Gateway, **overrides: Any) -> httpx.Response:
    return await gw.client.post("/api/v1/appeals", headers=gw.token("citizen-1"), json={**BODY, **overrides})


async def stored_contact(gw: Gateway, appeal_id: str) -> Any:
    doc = await gw.app.state.runtime.db["appeals"].find_one({"_id": appeal_id})
    assert doc is not None
    return doc["contact"]["email"]


@pytest.mark.parametrize(
    "address",
    ["иван@example.org", "ΑΒΓ@example.org", "用户@example.org", "Иван.Петров@пример.рф"],
)
async def test_a_non_ascii_local_part_is_refused_at_the_door_without_smtputf8(
    gw: Gateway, address: str
) -> None:
    response = await submit(gw, contact={"email": address})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "SMTPUTF8" in response.json()["detail"] and "@" in response.json()["detail"]
    assert not await gw.app.state.runtime.db["appeals"].count_documents({})


async def test_an_internationalised_domain_is_accepted_and_kept_as_written(gw: Gateway) -> None:
    response = await submit(gw, contact={"email": "user@Пример.РФ"})
    assert response.status_code == 201, response.text
    assert await stored_contact(gw, response.json()["id"]) == "user@пример.рф"  # notify sends it IDNA


async def test_a_non_ascii_local_part_is_accepted_where_the_relay_speaks_smtputf8(gw_utf8: Gateway) -> None:
    response = await submit(gw_utf8, contact={"email": "иван@example.org"})
    assert response.status_code == 201, response.text
    assert await stored_contact(gw_utf8, response.json()["id"]) == "иван@example.org"


@pytest.mark.parametrize(
    "address", ['"john doe"@example.org', "user@[127.0.0.1]", "Ivan <ivan@example.org>", "a@b", "a@@b.org"]
)
async def test_addresses_notify_cannot_use_are_refused_at_the_door(gw_utf8: Gateway, address: str) -> None:
    response = await submit(gw_utf8, contact={"email": address})
    assert response.status_code == 422, response.text


async def test_organisation_mailboxes_follow_the_same_rule(gw: Gateway) -> None:
    admin = gw.token("admin-1", Role.ADMIN)
    body = {"operator_emails": ["ops@example.org", "оператор@example.org"], "supervisor_emails": []}
    response = await gw.client.put(
        "/api/v1/organizations/roads/notification-contacts", headers=admin, json=body
    )
    assert response.status_code == 422, response.text
    assert "operator_emails" in response.json()["detail"]


@pytest.mark.parametrize("invisible", ["\u200b", "\u00ad", "\u2060", "\ufeff", "\u202e", "\u200f"])
async def test_invisible_characters_are_removed_at_the_door(gw: Gateway, invisible: str) -> None:
    response = await submit(gw, summary=f"Ям{invisible}а у остановки", description=f"Глу{invisible}бокая яма")
    assert response.status_code == 201, response.text
    doc = await gw.app.state.runtime.db["appeals"].find_one({"_id": response.json()["id"]})
    assert doc["summary"] == "Яма у остановки" and doc["description"] == "Глубокая яма"
    [submitted] = [e for e in gw.published if e["type"] == "appeal.submitted"] or [None]
    if submitted is not None:
        assert invisible not in submitted["data"]["summary"]


async def test_emoji_sequences_keep_their_joiners(gw: Gateway) -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    response = await submit(gw, description=f"Во дворе нет детской площадки {family}")
    assert response.status_code == 201, response.text
    doc = await gw.app.state.runtime.db["appeals"].find_one({"_id": response.json()["id"]})
    assert doc["description"].endswith(family)


async def test_a_text_of_only_invisible_characters_is_empty(gw: Gateway) -> None:
    response = await submit(gw, summary="\u200b\u200b\u200b\u2060\u2060")
    assert response.status_code == 422


async def test_not_ours_keeps_the_due_date_and_the_control_centre_queue_is_a_status(gw: Gateway) -> None:
    citizen, operator = gw.token("citizen-9"), gw.token("op-9", Role.OPERATOR, "region")
    appeal = await gw.submit(citizen)
    await gw.route(appeal)
    path = f"/api/v1/appeals/{appeal['id']}"
    due = datetime(2026, 12, 24, 20, 59, 59, tzinfo=UTC)
    armed = DeadlineArmedV1(
        appeal_id=appeal["id"],
        number=appeal["number"],
        timer=TimerKind.ANSWER,
        due_at=due,
        organization=ORGS["roads"],
        armed_at=datetime.now(UTC),
    )
    await gw.publish(EventType.DEADLINE_ARMED, armed, appeal["id"], "deadlines")

    async def due_set() -> Any:
        body = (await gw.client.get(path, headers=citizen)).json()
        return body if body.get("due_at") else None

    await eventually(due_set)
    roads = gw.token("op-roads", Role.OPERATOR, "roads")
    refused = await gw.client.post(f"{path}/reassign", headers=roads, json={"reason": "Не наша дорога"})
    assert refused.status_code == 200 and refused.json()["status"] == "received"
    assert refused.json()["due_at"] is not None  # "not ours" never clears the citizen's due date

    triage = AppealRoutedV1(
        appeal_id=appeal["id"],
        number=appeal["number"],
        topic="roads.potholes",
        organization=ORGS["region"],
        rule="reassignment:exhausted",
        answer_sla_days=30,
        routed_at=datetime.now(UTC),
        reason=RoutingReason.TRIAGE,
        previous_organization=ORGS["roads"],
    )
    await gw.publish(EventType.APPEAL_ROUTED, triage, appeal["id"], "routing")

    async def waiting() -> Any:
        body = (await gw.client.get(path, headers=citizen)).json()
        return body if body["status"] == "needs_triage" else None

    body = await eventually(waiting)
    assert body["due_at"].startswith("2026-12-24")
    again = await gw.client.post(f"{path}/reassign", headers=operator, json={"reason": "И не наша"})
    assert again.status_code == 409  # nobody left to pass it to: the control centre decides
