"""Public appeals through the gateway over the real broker: a citizen's public appeal appears
masked on the public list and in Open311 once routing accepted it; a private one never does;
an answer appears only when the organisation marks it public."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from libs.common.auth import Role
from libs.common.events import AppealRejectedV1, AppealRoutedV1, EventType
from tests.infra import eventually
from tests.integration.gateway_harness import ORGS, Gateway, running_gateway

pytestmark = pytest.mark.integration

SECRET_TEXT = (
    "Я, Иванов Иван Иванович, тел. +7 912 345-67-89, ivanov@mail.ru, кв. 45: течёт крыша над подъездом."
)


@pytest.fixture
async def gw(rabbit_url: str, namespace: str) -> AsyncIterator[Gateway]:
    async with running_gateway(rabbit_url, namespace, submit_rate_per_minute=1000) as gateway:
        yield gateway


async def route(gw: Gateway, appeal: dict[str, Any], area_id: str | None = "demograd") -> None:
    routed = AppealRoutedV1(
        appeal_id=appeal["id"],
        number=appeal["number"],
        topic="roads.potholes",
        organization=ORGS["roads"],
        rule="test",
        answer_sla_days=30,
        routed_at=datetime.now(UTC),
        area_id=area_id,
    )
    await gw.publish(EventType.APPEAL_ROUTED, routed, appeal["id"], "routing")
    admin = gw.token("admin-1", Role.ADMIN)

    async def arrived() -> bool:
        return (await gw.client.get(f"/api/v1/appeals/{appeal['id']}", headers=admin)).json()[
            "status"
        ] == "routed"

    await eventually(arrived, timeout=10)


async def numbers(gw: Gateway, **params: Any) -> list[str]:
    response = await gw.client.get("/api/v1/public/appeals", params={"limit": 100, **params})
    assert response.status_code == 200, response.text
    return [item["number"] for item in response.json()["items"]]


async def test_public_appeal_is_listed_masked_and_a_private_one_never(gw: Gateway) -> None:
    author = gw.token("author")
    public = await gw.submit(author, description=SECRET_TEXT, public=True)
    private = await gw.submit(author, description=SECRET_TEXT)
    assert public["number"] not in await numbers(gw)  # not before moderation
    await route(gw, public)
    await route(gw, private)

    listed = await gw.client.get(f"/api/v1/public/appeals/{public['number']}")
    assert listed.status_code == 200, listed.text
    body = listed.text
    for secret in ("Иванов", "912", "ivanov@mail.ru", "кв. 45", "resident@example.org", "author"):
        assert secret not in body, secret
    item = listed.json()
    assert (
        item["status"] == "routed"
        and item["organization"] == ORGS["roads"].name
        and item["area_id"] == "demograd"
    )
    assert (await gw.client.get(f"/api/v1/public/appeals/{private['number']}")).status_code == 404

    everything = await numbers(gw)
    assert public["number"] in everything and private["number"] not in everything
    assert public["number"] in await numbers(gw, area_id="demograd", topic="roads.potholes", status="routed")
    assert public["number"] not in await numbers(gw, area_id="zarechny")
    assert public["number"] not in await numbers(gw, topic="transport.schedule")
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert public["number"] not in await numbers(gw, **{"from": later})
    assert public["number"] in await numbers(gw, to=later)
    assert (await gw.client.get("/api/v1/public/appeals", params={"status": "received"})).status_code == 422

    # Open311: the city's public requests, masked; a private appeal is never there.
    open311 = (await gw.client.get("/open311/v2/requests.json")).json()
    by_number = {entry["service_request_id"]: entry for entry in open311}
    assert public["number"] in by_number and private["number"] not in by_number
    assert "Иванов" not in str(by_number[public["number"]]) and "912" not in str(by_number[public["number"]])
    services = {
        e["service_code"]: e["service_name"]
        for e in (await gw.client.get("/open311/v2/services.json")).json()
    }
    listed = by_number[public["number"]]  # submitted through the API: named as its topic's service
    assert listed["service_name"] and listed["service_name"] == services[listed["service_code"]]
    single = await gw.client.get(f"/open311/v2/requests/{private['number']}.json")
    assert single.status_code == 404

    # The author sees what was masked; nobody else does.
    seen = await gw.client.get(f"/api/v1/appeals/{public['id']}/publication", headers=author)
    assert seen.status_code == 200 and seen.json()["listed"] is True
    assert {m["kind"] for m in seen.json()["masked"]} == {"email", "flat", "name", "phone"}
    other = await gw.client.get(f"/api/v1/appeals/{public['id']}/publication", headers=gw.token("stranger"))
    assert other.status_code == 404


async def test_only_answers_marked_public_are_published(gw: Gateway) -> None:
    author = gw.token("author")
    appeal = await gw.submit(author, public=True)
    await route(gw, appeal)
    operator = gw.token("op-roads", Role.OPERATOR, "roads")
    path = f"/api/v1/appeals/{appeal['id']}"
    assert (await gw.client.post(f"{path}/take", headers=operator)).status_code == 200
    answer = {"text": "Яма заделана, спасибо, Иванов И. И.!", "public": True}
    assert (await gw.client.post(f"{path}/answer", headers=operator, json=answer)).status_code == 200
    item = (await gw.client.get(f"/api/v1/public/appeals/{appeal['number']}")).json()
    assert [a["text"] for a in item["answers"]] == ["Яма заделана, спасибо, [скрыто]!"]

    quiet = await gw.submit(author, public=True, summary="Вторая яма")
    await route(gw, quiet)
    qpath = f"/api/v1/appeals/{quiet['id']}"
    assert (await gw.client.post(f"{qpath}/take", headers=operator)).status_code == 200
    assert (
        await gw.client.post(f"{qpath}/answer", headers=operator, json={"text": "Ответ"})
    ).status_code == 200
    assert (await gw.client.get(f"/api/v1/public/appeals/{quiet['number']}")).json()["answers"] == []


async def test_a_rejected_public_appeal_is_never_listed(gw: Gateway) -> None:
    appeal = await gw.submit(gw.token("author"), public=True)
    rejected = AppealRejectedV1(
        appeal_id=appeal["id"],
        number=appeal["number"],
        reason_code="profanity",
        reason="...",
        rejected_at=datetime.now(UTC),
    )
    await gw.publish(EventType.APPEAL_REJECTED, rejected, appeal["id"], "routing")
    admin = gw.token("admin-1", Role.ADMIN)

    async def done() -> bool:
        return (await gw.client.get(f"/api/v1/appeals/{appeal['id']}", headers=admin)).json()[
            "status"
        ] == "rejected"

    await eventually(done, timeout=10)
    assert appeal["number"] not in await numbers(gw)
    assert appeal["number"] not in {
        e["service_request_id"] for e in (await gw.client.get("/open311/v2/requests.json")).json()
    }


async def test_the_author_changes_the_public_choice_and_the_lists_follow_at_once(gw: Gateway) -> None:
    author = gw.token("author")
    appeal = await gw.submit(author, description=SECRET_TEXT)  # private at submission
    await route(gw, appeal)
    path = f"/api/v1/appeals/{appeal['id']}/publication"

    async def open311_numbers() -> set[str]:
        return {e["service_request_id"] for e in (await gw.client.get("/open311/v2/requests.json")).json()}

    assert appeal["number"] not in await numbers(gw) and appeal["number"] not in await open311_numbers()
    made_public = await gw.client.put(path, headers=author, json={"public": True})
    assert made_public.status_code == 200, made_public.text
    assert made_public.json()["public"] is True and made_public.json()["listed"] is True
    assert "Иванов" not in made_public.json()["description"]  # what the public will see: masked
    assert appeal["number"] in await numbers(gw) and appeal["number"] in await open311_numbers()
    again = await gw.client.put(path, headers=author, json={"public": True})  # a double click
    assert again.status_code == 200

    made_private = await gw.client.put(path, headers=author, json={"public": False})
    assert made_private.status_code == 200 and made_private.json()["public"] is False
    assert appeal["number"] not in await numbers(gw) and appeal["number"] not in await open311_numbers()
    assert (await gw.client.get(f"/api/v1/public/appeals/{appeal['number']}")).status_code == 404

    view = (await gw.client.get(f"/api/v1/appeals/{appeal['id']}", headers=author)).json()
    assert view["public"] is False
    assert [e["action"] for e in view["timeline"] if e["action"].startswith("make_")] == [
        "make_public",
        "make_private",
    ]  # each change once: the repeated choice recorded nothing
    assert {"make_public", "make_private"} <= set(view["allowed_actions"])

    stranger = await gw.client.put(path, headers=gw.token("stranger"), json={"public": True})
    assert stranger.status_code == 404
    assert stranger.headers["content-type"] == "application/problem+json"
    operator = await gw.client.put(
        path, headers=gw.token("op-roads", Role.OPERATOR, "roads"), json={"public": True}
    )
    assert operator.status_code == 403
    bad = await gw.client.put(path, headers=author, json={"public": "maybe"})
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"


async def test_changing_the_public_choice_is_rate_limited(rabbit_url: str, namespace: str) -> None:
    async with running_gateway(rabbit_url, f"{namespace}-rl", action_rate_per_minute=2) as gw:
        author = gw.token("author")
        appeal = await gw.submit(author)
        path = f"/api/v1/appeals/{appeal['id']}/publication"
        codes = [
            (await gw.client.put(path, headers=author, json={"public": choice})).status_code
            for choice in (True, False, True)
        ]
        assert codes == [200, 200, 429]
