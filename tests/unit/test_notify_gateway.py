"""The gateway's notification API in front of the real notify app (both in-process, no broker):
who may read, subscribe, register webhooks, set contacts and see failed deliveries."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from libs.common.auth import Role, issue_dev_token
from libs.common.clock import ManualClock
from libs.common.settings import DEV_SECRET
from libs.common.store import Database
from services.intake.app import create_app as create_gateway
from services.intake.settings import IntakeSettings
from services.notify.app import create_app as create_notify
from services.notify.settings import NotifySettings

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
P256DH = base64.urlsafe_b64encode(b"\x04" + b"\x01" * 64).rstrip(b"=").decode()
AUTH_SECRET = base64.urlsafe_b64encode(b"\x02" * 16).rstrip(b"=").decode()


@dataclass
class Api:
    client: httpx.AsyncClient
    db: Database

    def who(self, sub: str, role: Role = Role.CITIZEN, org_id: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_dev_token(DEV_SECRET, sub=sub, role=role, org_id=org_id)}"}


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    namespace = f"unit-{uuid.uuid4().hex[:8]}"
    notify = create_notify(
        NotifySettings(env="dev", namespace=namespace, allow_loopback_targets=True), clock=ManualClock(NOW)
    )
    gateway = create_gateway(
        IntakeSettings(env="dev", namespace=namespace), upstream_transport=httpx.ASGITransport(app=notify)
    )
    db: Database = notify.state.runtime.db
    for owner, item_id in (("user:citizen-1", "n1"), ("org:org-1", "n2"), ("org:org-2", "n3")):
        await db["feed"].insert_one(
            {
                "_id": item_id,
                "owner": owner,
                "appeal_id": "a1",
                "number": "2026-000001",
                "kind": "new_appeal",
                "title": "t",
                "body": "b",
                "created_at": NOW,
                "read_by": [],
            }
        )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gw") as client:
        yield Api(client, db)


async def test_operator_feed_includes_the_organisation_and_reads_per_person(api: Api) -> None:
    operator = api.who("op-1", Role.OPERATOR, "org-1")
    page = (await api.client.get("/api/v1/me/notifications", headers=operator)).json()
    assert [item["id"] for item in page["items"]] == ["n2"] and page["items"][0]["for_organization"]
    assert (await api.client.post("/api/v1/me/notifications/n2/read", headers=operator)).status_code == 204
    assert (await api.client.get("/api/v1/me/notifications", headers=operator)).json()["unread"] == 0
    colleague = api.who("op-2", Role.OPERATOR, "org-1")
    assert (await api.client.get("/api/v1/me/notifications", headers=colleague)).json()["unread"] == 1
    # Another organisation's item is nobody's business here.
    assert (await api.client.post("/api/v1/me/notifications/n3/read", headers=operator)).status_code == 404

    citizen = api.who("citizen-1")
    page = (await api.client.get("/api/v1/me/notifications", headers=citizen)).json()
    assert [item["id"] for item in page["items"]] == ["n1"]
    read = await api.client.post("/api/v1/me/notifications/read-all", headers=citizen)
    assert read.json() == {"marked": 1}
    unread = await api.client.get("/api/v1/me/notifications", params={"unread_only": True}, headers=citizen)
    assert unread.json() == {"items": [], "total": 0, "unread": 0}
    assert (await api.client.get("/api/v1/me/notifications")).status_code == 401


async def test_preferences_round_trip(api: Api) -> None:
    me = api.who("citizen-1")
    assert (await api.client.get("/api/v1/me/notification-preferences", headers=me)).json() == {
        "email": True,
        "push": True,
        "quiet_hours": None,
    }
    body = {
        "email": False,
        "push": True,
        "quiet_hours": {"start": "22:00", "end": "07:30", "timezone": "Asia/Omsk"},
    }
    response = await api.client.put("/api/v1/me/notification-preferences", json=body, headers=me)
    assert response.status_code == 200, response.text
    saved = (await api.client.get("/api/v1/me/notification-preferences", headers=me)).json()
    assert saved["email"] is False and saved["quiet_hours"]["end"] == "07:30:00"
    bad = {"quiet_hours": {"start": "22:00", "end": "22:00"}}
    response = await api.client.put("/api/v1/me/notification-preferences", json=bad, headers=me)
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"


async def test_push_subscriptions(api: Api) -> None:
    key = (await api.client.get("/api/v1/push/vapid-public-key")).json()["public_key"]
    assert len(base64.urlsafe_b64decode(key + "==")) == 65  # no token needed: the browser asks first
    me = api.who("citizen-1")
    sub = {"endpoint": "http://127.0.0.1:9/push/1", "keys": {"p256dh": P256DH, "auth": AUTH_SECRET}}
    created = await api.client.post("/api/v1/me/push-subscriptions", json=sub, headers=me)
    assert created.status_code == 201, created.text
    [listed] = (await api.client.get("/api/v1/me/push-subscriptions", headers=me)).json()
    assert listed["id"] == created.json()["id"] and listed["endpoint_origin"] == "http://127.0.0.1:9"
    other = api.who("citizen-2")
    gone = await api.client.delete(f"/api/v1/me/push-subscriptions/{listed['id']}", headers=other)
    assert gone.status_code == 404
    assert (
        await api.client.delete(f"/api/v1/me/push-subscriptions/{listed['id']}", headers=me)
    ).status_code == 204
    broken = {"endpoint": "http://127.0.0.1:9/push/2", "keys": {"p256dh": "A" * 87, "auth": AUTH_SECRET}}
    response = await api.client.post("/api/v1/me/push-subscriptions", json=broken, headers=me)
    assert response.status_code == 422 and "p256dh" in response.json()["detail"]


async def webhook(api: Api, who: dict[str, str], **body: Any) -> httpx.Response:
    return await api.client.post(
        "/api/v1/webhooks", json={"url": "http://127.0.0.1:9100/h", **body}, headers=who
    )


async def test_who_may_register_which_webhooks(api: Api) -> None:
    operator = api.who("op-1", Role.OPERATOR, "org-1")
    created = await webhook(api, operator, events=["appeal.routed"])
    assert created.status_code == 201, created.text
    assert created.json()["org_id"] == "org-1" and created.json()["scope"] == "organization"
    assert len(created.json()["secret"]) >= 32
    assert (await webhook(api, operator, org_id="org-2")).status_code == 403
    assert (await webhook(api, api.who("citizen-1"))).status_code == 403
    assert (await webhook(api, operator, events=["appeal.submitted"])).status_code == 422  # personal data

    monitor = api.who("monitor-1", Role.MONITOR)
    social = await webhook(api, monitor, secret="s" * 20)
    assert social.status_code == 201 and social.json()["scope"] == "social"
    assert (await webhook(api, monitor, org_id="org-1")).status_code == 403

    admin = api.who("admin-1", Role.ADMIN)
    assert (await webhook(api, admin, org_id="org-2")).json()["org_id"] == "org-2"

    listed = (await api.client.get("/api/v1/webhooks", headers=operator)).json()
    assert [hook["org_id"] for hook in listed] == ["org-1"] and "secret" not in listed[0]
    assert len((await api.client.get("/api/v1/webhooks", headers=admin)).json()) == 3
    other_org = api.who("op-9", Role.OPERATOR, "org-9")
    hook_id = created.json()["id"]
    assert (await api.client.delete(f"/api/v1/webhooks/{hook_id}", headers=other_org)).status_code == 404
    assert (await api.client.delete(f"/api/v1/webhooks/{hook_id}", headers=operator)).status_code == 204


async def test_organisation_contacts_and_dead_letters_are_guarded(api: Api) -> None:
    body = {"operator_emails": ["ops@org1.example"], "supervisor_emails": ["chief@org1.example"]}
    operator = api.who("op-1", Role.OPERATOR, "org-1")
    path = "/api/v1/organizations/org-1/notification-contacts"
    assert (await api.client.put(path, json=body, headers=operator)).status_code == 200
    assert (await api.client.get(path, headers=operator)).json()["supervisor_emails"] == [
        "chief@org1.example"
    ]
    stranger = api.who("op-2", Role.OPERATOR, "org-2")
    assert (await api.client.get(path, headers=stranger)).status_code == 403
    assert (
        await api.client.put(path, json={"operator_emails": ["not-an-address"]}, headers=operator)
    ).status_code == 422

    await api.db["deliveries"].insert_one(
        {
            "_id": "a1:registered:email:citizen-1",
            "key": "a1:registered",
            "channel": "email",
            "target_id": "citizen-1",
            "target": {"email": "citizen@example.org"},
            "appeal_id": "a1",
            "event_type": "deadline.armed",
            "kind": "registered",
            "status": "failed",
            "attempts": 5,
            "error": "SMTPConnectError",
            "created_at": NOW,
            "failed_at": NOW,
        }
    )
    assert (await api.client.get("/api/v1/admin/dead-letters", headers=operator)).status_code == 403
    page = await api.client.get("/api/v1/admin/dead-letters", headers=api.who("admin-1", Role.ADMIN))
    [dead] = page.json()["items"]
    assert dead["target"] == "email:citizen-1" and dead["error"] == "SMTPConnectError"
    assert "citizen@example.org" not in page.text
    retry = await api.client.post(
        f"/api/v1/admin/dead-letters/{dead['id']}/retry", headers=api.who("a", Role.ADMIN)
    )
    assert retry.status_code == 202
    again = await api.client.post(
        f"/api/v1/admin/dead-letters/{dead['id']}/retry", headers=api.who("a", Role.ADMIN)
    )
    assert again.status_code == 404  # it is queued, no longer failed
