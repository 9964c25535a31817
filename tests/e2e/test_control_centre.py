"""Issue #17 "Done when", through the real gateway, broker, store and the six services: a connector
posts three raw posts (a concrete pothole, a vague complaint, an obscene one); the first is routed
with a first-response deadline, the second waits in the control centre's triage until a specialist
sets topic and place, the third is rejected; the organisation's first reply reaches the connector
as `incident.responded`; a repeat post is linked and counted; the centre's figures match."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from devstack.webhook_sink import WebhookSink
from tests.e2e.conftest import bearer
from tests.infra import eventually

SECRET = "control-centre-webhook-secret"
POTHOLE = "Огромная яма на улице Ленина в Абазе возле центральной бани, уже месяц объезжаем"
VAGUE = "Все наши дороги ужасные! Когда это кончится?"
OBSCENE = "Опять эта бл*дская дорога в Абазе на улице Ленина, пиздец просто"
REPEAT = "Яму на улице Ленина в Абазе засыпали, а она снова провалилась"


async def report(
    gateway: httpx.AsyncClient, monitor: dict[str, str], text: str, handle: str = "ivan_abaza"
) -> str:
    body = {
        "network": "vk",
        "post_url": f"https://vk.com/wall-7_{uuid.uuid4().hex[:10]}",
        "author_handle": handle,
        "text": text,
        "found_at": datetime.now(UTC).isoformat(),
    }
    response = await gateway.post("/api/v1/incidents", json=body, headers=monitor)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def appeal_when(
    gateway: httpx.AsyncClient, admin: dict[str, str], appeal_id: str, done: Any, timeout: float = 30
) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        view = (await gateway.get(f"/api/v1/appeals/{appeal_id}", headers=admin)).json()
        return view if done(view) else None

    return await eventually(probe, timeout=timeout)


async def test_posts_from_a_connector_to_first_response_figures_and_a_repeat(
    gateway: httpx.AsyncClient,
) -> None:
    monitor = await bearer(gateway, f"connector-{uuid.uuid4().hex[:6]}", "monitor")
    admin = await bearer(gateway, "centre-specialist", "admin")
    operator = await bearer(gateway, "op-krasnobor", "operator", org_id="krasnobor-admin")
    with WebhookSink(port=0, secret=SECRET) as sink:
        hook = await gateway.post(
            "/api/v1/webhooks", json={"url": sink.url, "secret": SECRET}, headers=monitor
        )
        assert hook.status_code == 201, hook.text

        pothole, vague, obscene = [await report(gateway, monitor, text) for text in (POTHOLE, VAGUE, OBSCENE)]

        # 1. The concrete post: classified, routed to the district, with a first-response deadline.
        view = await appeal_when(gateway, admin, pothole, lambda v: v["first_response_due_at"])
        assert view["status"] == "routed" and view["topic"] == "roads.potholes"
        assert view["organization"]["id"] == "krasnobor-admin"
        assert view["location"]["address"] == "улица Ленина, Абаза"

        # 3. The obscene one is rejected by moderation.
        rejected = await appeal_when(gateway, admin, obscene, lambda v: v["status"] == "rejected")
        assert rejected["rejection"]["code"] == "profanity"

        # 2. The vague one waits in the control centre's queue; one action sets topic and place.
        async def queued() -> list[dict[str, Any]] | None:
            items = (await gateway.get("/api/v1/admin/triage", headers=admin)).json()["items"]
            return [item for item in items if item["appeal_id"] == vague] or None

        (item,) = await eventually(queued)
        assert item["triage"] == "classification" and "no concrete place" in item["classification"]["why"]
        decision = {
            "topic": "roads.potholes",
            "place": {"place_id": "lesogorsk.lenina"},
            "comment": "уточнили",
        }
        decided = await gateway.post(f"/api/v1/admin/triage/{vague}", json=decision, headers=admin)
        assert decided.status_code == 200, decided.text
        routed = await appeal_when(gateway, admin, vague, lambda v: v["status"] == "routed")
        assert routed["organization"]["id"] == "lesogorsk-admin" and routed["topic"] == "roads.potholes"

        # The organisation's first public reply: its own step, back to the connector as an event.
        reply = "Спасибо, передали в дорожную службу, выезд сегодня."
        responded = await gateway.post(
            f"/api/v1/appeals/{pothole}/first-response", json={"text": reply}, headers=operator
        )
        assert responded.status_code == 200, responded.text
        assert responded.json()["first_response"]["text"] == reply
        again = await gateway.post(
            f"/api/v1/appeals/{pothole}/first-response", json={"text": reply}, headers=operator
        )
        assert again.status_code == 409  # once
        got = await sink.wait_for(lambda e: any(x.event_type == "incident.responded" for x in e), timeout=30)
        event = next(x for x in got if x.event_type == "incident.responded")
        assert event.body["event"]["data"]["text"] == reply
        assert event.body["appeal"]["source_post"]["author_handle"] == "ivan_abaza"
        assert event.body["event"]["specversion"] == "1.0"

        # The answer; routing remembers it, so a new post about the same pothole is a repeat.
        assert (await gateway.post(f"/api/v1/appeals/{pothole}/take", headers=operator)).status_code == 200
        answer = {"text": "Яму заделали.", "media_ids": []}
        assert (
            await gateway.post(f"/api/v1/appeals/{pothole}/answer", json=answer, headers=operator)
        ).status_code == 200

        async def remembered() -> bool:
            doc = (await gateway.get(f"/api/v1/admin/assignments/{pothole}", headers=admin)).json()
            return bool(doc.get("answered_at"))

        await eventually(remembered)
        repeat = await report(gateway, monitor, REPEAT)
        linked = await appeal_when(gateway, admin, repeat, lambda v: v["status"] == "routed")
        assert linked["repeat_of"] == {"appeal_id": pothole, "number": view["number"]}
        assert linked["organization"]["id"] == "krasnobor-admin"

        # The centre's figures for the month, by hand: Krasnobor got 2 posts (the pothole, the
        # repeat), 1 replied in time, 1 answered, 1 repeat → score (1 - 1) / 2 = 0 %.
        first = await appeal_when(gateway, admin, pothole, lambda v: v["status"] == "answered")
        routed_at = next(e["at"] for e in first["timeline"] if e["action"] == "route")
        hours = (
            datetime.fromisoformat(first["first_response"]["at"]) - datetime.fromisoformat(routed_at)
        ).total_seconds() / 3600
        month = datetime.now(UTC).strftime("%Y-%m")

        async def figures() -> dict[str, Any] | None:
            table = (await gateway.get("/api/v1/stats/centre", params={"month": month}, headers=admin)).json()
            rows = {row["organization"]["id"]: row for row in table["items"]}
            row = rows.get("krasnobor-admin")
            return row if row and row["posts"] == 2 and row["answered"] == 1 else None

        row = await eventually(figures)
        assert (row["responded_on_time"], row["responded_on_time_pct"]) == (1, 50.0)
        assert (row["answered_pct"], row["repeats"], row["score_pct"]) == (50.0, 1, 0.0)
        assert row["first_response_mean_hours"] == row["first_response_median_hours"] == round(hours, 2)
        areas = (
            await gateway.get("/api/v1/stats/centre", params={"month": month, "by": "area"}, headers=admin)
        ).json()
        assert {"krasnoborsky", "lesogorsk"} <= {row["area_id"] for row in areas["items"]}
        public = await gateway.get("/api/v1/stats/centre/public", params={"month": month})
        assert public.status_code == 200 and public.json()["min_posts"] >= 1
        assert (
            await gateway.get("/api/v1/stats/centre", params={"month": month}, headers=monitor)
        ).status_code == 403
