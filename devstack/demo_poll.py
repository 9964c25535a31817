"""`make run` publishes one demo poll for Demograd (once: a later run finds it and keeps it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from devstack.demo import token

DEMO_ORG = "city-admin"
DEMO_AREA = "demograd"
DEMO_TITLE = "Где разместить новую детскую площадку?"


def seed_demo_poll(intake_url: str) -> dict[str, object] | None:
    """Draft and publish the demo poll as an operator of the city administration; returns it."""
    with httpx.Client(base_url=intake_url, timeout=10.0) as client:
        kept = client.get("/api/v1/polls", params={"area_id": DEMO_AREA, "status": "published"})
        kept.raise_for_status()
        for poll in kept.json()["items"]:
            if poll["title"] == DEMO_TITLE:
                print(f"  demo poll kept from an earlier run: {poll['id']}", flush=True)
                return dict(poll)
        headers = {"Authorization": f"Bearer {token(client, 'demo-operator', 'operator', DEMO_ORG)}"}
        body = {
            "kind": "hearing",
            "title": DEMO_TITLE,
            "description": "Общественное обсуждение: выберите место и расскажите, что нужно на площадке.",
            "questions": [
                {
                    "text": "Где?",
                    "kind": "single",
                    "options": ["Городской парк", "Набережная", "У школы № 3"],
                },
                {
                    "text": "Что нужно?",
                    "kind": "multiple",
                    "options": ["Качели", "Горка", "Скамейки", "Освещение"],
                    "max_choices": 3,
                },
                {"text": "Ваше мнение", "kind": "opinion"},
            ],
            "area_ids": [DEMO_AREA],
            "closes_at": (datetime.now(UTC) + timedelta(days=14)).isoformat(),
            "results_while_open": True,
            "revote_allowed": True,
        }
        draft = client.post("/api/v1/polls", headers=headers, json=body)
        draft.raise_for_status()
        published = client.post(f"/api/v1/polls/{draft.json()['id']}/publish", headers=headers)
        published.raise_for_status()
        print(f"  demo poll published: {published.json()['id']} ({DEMO_TITLE})", flush=True)
        return dict(published.json())
