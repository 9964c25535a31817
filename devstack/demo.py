"""Demo data for `make run`: a few appeals submitted through the gateway, shown as they progress."""

from __future__ import annotations

import io
import time

import httpx
from PIL import Image

DEMO_APPEALS = [
    (
        "complaint",
        "landscaping.street_lighting",
        "Не работает фонарь",
        "Фонарь у дома 5 не горит вторую неделю.",
    ),
    ("complaint", "roads.potholes", "Яма на дороге", "Глубокая яма на проезжей части у остановки."),
    ("proposal", "housing.yard_cleaning", "Уборка двора", "Предлагаю убирать двор по субботам."),
    (
        "question",
        "transport.schedule",
        "Расписание автобуса",
        "Почему автобус 12 ходит реже, чем по расписанию?",
    ),
    ("gratitude", "health.appointment", "Спасибо поликлинике", "Спасибо за быструю запись к терапевту."),
]


def demo_photo() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (90, 140, 200)).save(buffer, "JPEG")
    return buffer.getvalue()


def token(client: httpx.Client, sub: str, role: str = "citizen", org_id: str | None = None) -> str:
    response = client.post("/api/v1/dev/tokens", json={"sub": sub, "role": role, "org_id": org_id})
    response.raise_for_status()
    return str(response.json()["access_token"])


def seed_demo(intake_url: str, count: int, timeout: float = 30.0) -> list[dict[str, object]]:
    with httpx.Client(base_url=intake_url, timeout=10.0) as client:
        headers = {"Authorization": f"Bearer {token(client, 'demo-citizen')}"}
        kept = client.get("/api/v1/appeals", headers=headers, params={"limit": count})
        kept.raise_for_status()
        if kept.json()["items"]:
            # The store keeps data across restarts of `make run`: the demo appeals are still there.
            print(f"  demo appeals kept from an earlier run: {len(kept.json()['items'])} shown", flush=True)
            for appeal in kept.json()["items"]:
                print(f"  № {appeal['number']}: {appeal['status']}", flush=True)
            print("  Demo citizen token (for curl):", headers["Authorization"].split()[1], flush=True)
            return list(kept.json()["items"])
        created = []
        for index in range(count):
            kind, topic, summary, description = DEMO_APPEALS[index % len(DEMO_APPEALS)]
            media = client.post(
                "/api/v1/media", headers=headers, files={"file": ("photo.jpg", demo_photo(), "image/jpeg")}
            )
            media.raise_for_status()
            body = {
                "kind": kind,
                "topic": topic,
                "summary": summary,
                "description": description,
                "location": {"lat": 55.75, "lon": 37.62, "address": "Демоград, ул. Примерная, 5"},
                "media_ids": [media.json()["id"]],
                "contact": {"email": "demo-citizen@example.org"},
            }
            response = client.post("/api/v1/appeals", headers=headers, json=body)
            response.raise_for_status()
            created.append(response.json())
            print(f"  demo appeal [{index + 1}/{count}] submitted: № {response.json()['number']}", flush=True)
        deadline = time.monotonic() + timeout
        pending = {item["id"] for item in created}
        while pending and time.monotonic() < deadline:
            for appeal_id in sorted(pending):
                appeal = client.get(f"/api/v1/appeals/{appeal_id}", headers=headers).json()
                if appeal["status"] != "received" and appeal.get("due_at"):
                    pending.discard(appeal_id)
                    org = (appeal.get("organization") or {}).get("name")
                    print(
                        f"  № {appeal['number']}: {appeal['status']} → {org}, due {appeal['due_at']}",
                        flush=True,
                    )
            time.sleep(0.3)
        if pending:
            print(f"  {len(pending)} demo appeal(s) still in progress; check the logs", flush=True)
        print("  Demo citizen token (for curl):", headers["Authorization"].split()[1], flush=True)
        return created
