"""The whole lifecycle through the gateway, over the real broker (issue: citizens and operators)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from libs.common.auth import Role
from libs.common.events import EventType, RatingWindowEndedV1, RoutingReason
from tests.infra import eventually
from tests.integration.gateway_harness import ORGS, Gateway, running_gateway

pytestmark = pytest.mark.integration


@pytest.fixture
async def gw(rabbit_url: str, namespace: str) -> AsyncIterator[Gateway]:
    async with running_gateway(rabbit_url, namespace, submit_rate_per_minute=1000) as gateway:
        yield gateway


async def test_full_lifecycle_with_clarification_rereview_and_closing(gw: Gateway) -> None:
    citizen = gw.token("citizen-1")
    operator = gw.token("op-1", Role.OPERATOR, "roads")
    appeal = await gw.submit(citizen)
    path = f"/api/v1/appeals/{appeal['id']}"
    await gw.route(appeal)

    async def post(action: str, who: dict[str, str], body: dict | None = None) -> dict:
        response = await gw.client.post(f"{path}/{action}", headers=who, json=body)
        assert response.status_code == 200, response.text
        return dict(response.json())

    assert (await post("take", operator))["status"] == "in_work"
    asked = await post("clarification-request", operator, {"question": "Уточните номер дома, пожалуйста."})
    assert asked["status"] == "clarification_requested"
    assert asked["clarification"]["question"] == "Уточните номер дома, пожалуйста."
    assert (await post("comments", citizen, {"text": "Дом 7, у второго подъезда."}))["status"] == "in_work"
    answered = await post("answer", operator, {"text": "Яма будет заделана до конца недели."})
    assert answered["status"] == "answered"
    low = await post("rating", citizen, {"score": 2})
    assert low["status"] == "rereview"
    assert low["organization"]["id"] == "roads"  # back to the same organisation's queue

    queue = (await gw.client.get("/api/v1/appeals?status=rereview", headers=operator)).json()
    assert [item["id"] for item in queue["items"]] == [appeal["id"]]

    assert (await post("take", operator))["status"] == "in_work"
    assert (await post("answer", operator, {"text": "Яма заделана, фото прилагаем."}))["status"] == "answered"
    rated = await post("rating", citizen, {"score": 5})
    assert rated["status"] == "answered"  # the rating window is still open
    assert rated["rating"] == 5

    ended = RatingWindowEndedV1(
        appeal_id=appeal["id"],
        number=appeal["number"],
        organization=ORGS["roads"],
        ended_at=datetime.now(UTC),
    )
    await gw.publish(EventType.RATING_WINDOW_ENDED, ended, appeal["id"], "deadlines")

    async def closed() -> dict | None:
        body = (await gw.client.get(path, headers=citizen)).json()
        return body if body["status"] == "closed" else None

    final = await eventually(closed)
    assert [entry["status"] for entry in final["timeline"]] == [
        "received",
        "routed",
        "in_work",
        "clarification_requested",
        "in_work",
        "answered",
        "rereview",
        "in_work",
        "answered",
        "answered",
        "closed",
    ]
    assert [rating["score"] for rating in final["ratings"]] == [2, 5]
    # The citizen sees the operator's organisation, not their user id (issue 13).
    assert final["timeline"][3]["actor"] == {
        "role": "operator",
        "id": None,
        "org_id": "roads",
        "org_name": ORGS["roads"].name,
    }

    async def announced() -> bool:
        return bool(gw.events("appeal.closed", appeal["id"]))

    await eventually(announced)
    for event_type in (
        "appeal.submitted",
        "appeal.taken",
        "appeal.clarification_requested",
        "appeal.clarified",
        "appeal.answered",
        "appeal.rated",
        "appeal.rereview_requested",
    ):
        assert gw.events(event_type, appeal["id"]), f"{event_type} was not published"
    assert [event["data"]["score"] for event in gw.events("appeal.rated", appeal["id"])] == [2, 5]
    assert gw.events("appeal.closed", appeal["id"])[0]["data"]["reason"] == "rated"


async def test_illegal_step_is_409_naming_status_and_allowed_actions(gw: Gateway) -> None:
    citizen = gw.token("citizen-2")
    operator = gw.token("op-2", Role.OPERATOR, "roads")
    appeal = await gw.submit(citizen)
    await gw.route(appeal)
    response = await gw.client.post(
        f"/api/v1/appeals/{appeal['id']}/answer", headers=operator, json={"text": "Ответ без работы"}
    )
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status_now"] == "routed"
    assert "take" in problem["allowed_actions"]
    # the caller's own actions only: not the citizen's, not the system's
    assert not {"rating", "make_public", "close", "escalate"} & set(problem["allowed_actions"])
    rating = await gw.client.post(
        f"/api/v1/appeals/{appeal['id']}/rating", headers=citizen, json={"score": 4}
    )
    assert rating.status_code == 409
    escalate = await gw.client.post(f"/api/v1/appeals/{appeal['id']}/escalate", headers=citizen)
    assert escalate.status_code == 409
    assert "after an answer" in escalate.json()["detail"]


async def test_rating_once_per_answer(gw: Gateway) -> None:
    citizen, operator = gw.token("citizen-3"), gw.token("op-3", Role.OPERATOR, "roads")
    appeal = await gw.submit(citizen)
    await gw.route(appeal)
    path = f"/api/v1/appeals/{appeal['id']}"
    await gw.client.post(f"{path}/take", headers=operator)
    await gw.client.post(f"{path}/answer", headers=operator, json={"text": "Сделано."})
    assert (await gw.client.post(f"{path}/rating", headers=citizen, json={"score": 4})).status_code == 200
    again = await gw.client.post(f"{path}/rating", headers=citizen, json={"score": 1})
    assert again.status_code == 409
    assert "already been rated" in again.json()["detail"]
    assert (await gw.client.post(f"{path}/rating", headers=citizen, json={"score": 6})).status_code == 422


async def test_reassign_leaves_the_queue_and_returns_via_routing(gw: Gateway) -> None:
    citizen, operator = gw.token("citizen-4"), gw.token("op-4", Role.OPERATOR, "roads")
    appeal = await gw.submit(citizen)
    await gw.route(appeal)
    path = f"/api/v1/appeals/{appeal['id']}"
    response = await gw.client.post(
        f"{path}/reassign", headers=operator, json={"reason": "Это не наша дорога"}
    )
    assert response.status_code == 200
    assert response.json()["status"] == "received"
    assert (await gw.client.get(path, headers=operator)).status_code == 404  # no longer theirs

    async def requested() -> list:
        return gw.events("appeal.reassign_requested", appeal["id"])

    event = (await eventually(requested))[0]
    assert event["data"]["organization"]["id"] == "roads"
    assert event["data"]["reason"] == "Это не наша дорога"
    rerouted = await gw.route(appeal, org="city", reason=RoutingReason.REASSIGNMENT)
    assert rerouted["status"] == "routed"


async def test_escalation_after_answer_moves_to_parent(gw: Gateway) -> None:
    citizen, operator = gw.token("citizen-5"), gw.token("op-5", Role.OPERATOR, "roads")
    appeal = await gw.submit(citizen)
    await gw.route(appeal)
    path = f"/api/v1/appeals/{appeal['id']}"
    await gw.client.post(f"{path}/take", headers=operator)
    await gw.client.post(f"{path}/answer", headers=operator, json={"text": "Не видим проблемы."})
    first = await gw.client.post(f"{path}/escalate", headers=citizen)
    assert first.status_code == 200
    assert first.json()["escalation_pending"] is True
    second = await gw.client.post(f"{path}/escalate", headers=citizen)
    assert second.status_code == 409

    async def requested() -> list:
        return gw.events("appeal.escalation_requested", appeal["id"])

    assert (await eventually(requested))[0]["data"]["reason"] == "citizen"
    escalated = await gw.route(appeal, org="region", reason=RoutingReason.ESCALATION, level=1)
    assert escalated["escalation_level"] == 1
    assert escalated["escalation_pending"] is False


async def test_low_rating_after_rereview_escalates(gw: Gateway) -> None:
    citizen, operator = gw.token("citizen-6"), gw.token("op-6", Role.OPERATOR, "roads")
    appeal = await gw.submit(citizen)
    await gw.route(appeal)
    path = f"/api/v1/appeals/{appeal['id']}"
    for score in (1, 2):
        await gw.client.post(f"{path}/take", headers=operator)
        await gw.client.post(f"{path}/answer", headers=operator, json={"text": "Ответ организации."})
        rated = (await gw.client.post(f"{path}/rating", headers=citizen, json={"score": score})).json()
    assert rated["status"] == "answered"
    assert rated["escalation_pending"] is True

    async def requested() -> list:
        return gw.events("appeal.escalation_requested", appeal["id"])

    assert (await eventually(requested))[0]["data"]["reason"] == "low_rating_after_rereview"
    assert len(gw.events("appeal.rereview_requested", appeal["id"])) == 1


async def test_idempotency_key(gw: Gateway) -> None:
    citizen = gw.token("citizen-7")
    body = {
        "kind": "question",
        "topic": "transport.schedule",
        "summary": "Расписание автобуса",
        "description": "Когда будет новое расписание?",
        "location": {"address": "Остановка Центральная"},
    }
    headers = {**citizen, "Idempotency-Key": "k-1"}
    responses = await asyncio.gather(
        *[gw.client.post("/api/v1/appeals", headers=headers, json=body) for _ in range(3)]
    )
    assert {response.status_code for response in responses} == {201}
    assert len({response.json()["id"] for response in responses}) == 1
    assert sum(response.headers.get("Idempotent-Replayed") == "true" for response in responses) == 2
    different = await gw.client.post("/api/v1/appeals", headers=headers, json={**body, "summary": "Другое"})
    assert different.status_code == 422
    assert "different request body" in different.json()["detail"]
    mine = (await gw.client.get("/api/v1/appeals", headers=citizen)).json()
    assert mine["total"] == 1


async def test_operator_queue_filters_and_order(gw: Gateway) -> None:
    citizen, operator = gw.token("citizen-8"), gw.token("op-8", Role.OPERATOR, "roads")
    first = await gw.submit(citizen, topic="transport.schedule")
    second = await gw.submit(citizen)
    for appeal in (first, second):
        await gw.route(appeal)
    queue = (await gw.client.get("/api/v1/appeals", headers=operator)).json()
    assert {item["id"] for item in queue["items"]} == {first["id"], second["id"]}
    by_topic = (await gw.client.get("/api/v1/appeals?topic=transport.schedule", headers=operator)).json()
    assert [item["id"] for item in by_topic["items"]] == [first["id"]]
    overdue = (await gw.client.get("/api/v1/appeals?overdue=true", headers=operator)).json()
    assert overdue["total"] == 0
    paged = (await gw.client.get("/api/v1/appeals?limit=1&offset=1", headers=operator)).json()
    assert (paged["total"], len(paged["items"])) == (2, 1)
