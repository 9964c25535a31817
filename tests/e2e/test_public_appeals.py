"""Public appeals end to end, the services as processes: routing's real moderation and area
decision; a public appeal appears masked on the public list (filtered by its area) and in
Open311, a private one never does."""

from __future__ import annotations

import httpx

from tests.e2e.conftest import bearer
from tests.infra import eventually

TEXT = "Меня зовут Пётр Сидоров, тел. 8 915 222-33-44. Не горит фонарь у дома 7, кв. 12 над подъездом."


async def test_a_public_appeal_is_listed_masked_and_a_private_one_never(gateway: httpx.AsyncClient) -> None:
    api = gateway
    citizen = await bearer(api, "e2e-public-author")
    body = {
        "kind": "complaint",
        "topic": "landscaping.street_lighting",
        "summary": "Не горит фонарь",
        "location": {"lat": 57.657, "lon": 43.7646, "address": "Демоград, ул. Мира, 7, кв. 12"},
    }
    public = await api.post(
        "/api/v1/appeals", headers=citizen, json={**body, "description": TEXT, "public": True}
    )
    private = await api.post(
        "/api/v1/appeals", headers=citizen, json={**body, "description": TEXT + " Второй."}
    )
    assert public.status_code == private.status_code == 201, (public.text, private.text)

    async def listed() -> dict | None:
        params = {"area_id": "demograd", "topic": "landscaping.street_lighting", "limit": 100}
        items = (await api.get("/api/v1/public/appeals", params=params)).json()["items"]
        return next((item for item in items if item["number"] == public.json()["number"]), None)

    item = await eventually(listed, timeout=30)
    assert item["organization"] and item["area_id"] == "demograd"
    for secret in ("Сидоров", "915", "кв. 12"):
        assert secret not in str(item), secret
    everything = (await api.get("/api/v1/public/appeals", params={"limit": 100})).json()["items"]
    assert private.json()["number"] not in {i["number"] for i in everything}
    open311 = {e["service_request_id"]: e for e in (await api.get("/open311/v2/requests.json")).json()}
    assert public.json()["number"] in open311 and private.json()["number"] not in open311
    assert "Сидоров" not in str(open311[public.json()["number"]])
