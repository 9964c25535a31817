"""A poll end to end through the gateway, the six services as processes: an operator publishes a
poll for one municipality, residents vote (a concurrent double vote counts once), the poll closes
on time by itself, the results are public and the opted-in residents and the organisation are told
(in-app feed and e-mail through the SMTP sink); a resident of another area is not."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import httpx

from devstack.demo_poll import seed_demo_poll
from devstack.mailsink import MailSink
from devstack.stack import LocalStack
from tests.e2e.conftest import bearer
from tests.infra import eventually

# The poll's organisation: one no other test of the shared stack routes appeals to, since the
# test sets its notification contacts (and clears them at the end).
ORG = "lesogorsk-admin"


async def feed_kinds(api: httpx.AsyncClient, who: dict, poll_id: str) -> set[str]:
    feed = (await api.get("/api/v1/me/notifications", headers=who)).json()
    return {item["kind"] for item in feed["items"] if item["appeal_id"] == poll_id}


async def test_poll_published_voted_closed_and_announced(gateway: httpx.AsyncClient, mail: MailSink) -> None:
    api = gateway
    operator = await bearer(api, "e2e-poll-operator", "operator", ORG)
    near = await bearer(api, "e2e-resident-demograd")
    far = await bearer(api, "e2e-resident-zarechny")
    other = await bearer(api, "e2e-resident-unsubscribed")
    for who, area, email in [(near, "demograd", "near@example.org"), (far, "zarechny", "far@example.org")]:
        response = await api.put(
            "/api/v1/me/poll-subscription", headers=who, json={"area_ids": [area], "email": email}
        )
        assert response.status_code == 200, response.text
    contacts = {"operator_emails": ["city-polls@example.org"]}
    response = await api.put(
        f"/api/v1/organizations/{ORG}/notification-contacts", headers=operator, json=contacts
    )
    assert response.status_code == 200, response.text
    try:
        await _scenario(api, mail, operator, near, far, other)
    finally:  # the shared stack's other tests must not mail this organisation's test address
        cleared = {"operator_emails": []}
        await api.put(f"/api/v1/organizations/{ORG}/notification-contacts", headers=operator, json=cleared)


async def _scenario(
    api: httpx.AsyncClient, mail: MailSink, operator: dict, near: dict, far: dict, other: dict
) -> None:
    closes_at = datetime.now(UTC) + timedelta(seconds=12)
    body = {
        "title": "E2E: скамейки на набережной",
        "questions": [{"text": "Нужны ли скамейки?", "kind": "single", "options": ["Да", "Нет"]}],
        "area_ids": ["demograd"],
        "closes_at": closes_at.isoformat(),
    }
    draft = await api.post("/api/v1/polls", headers=operator, json=body)
    assert draft.status_code == 201, draft.text
    poll_id = draft.json()["id"]
    published = await api.post(f"/api/v1/polls/{poll_id}/publish", headers=operator)
    assert published.status_code == 200 and published.json()["status"] == "published"
    frozen = await api.put(f"/api/v1/polls/{poll_id}", headers=operator, json=body)
    assert frozen.status_code == 409 and frozen.headers["content-type"] == "application/problem+json"

    ballot = f"/api/v1/polls/{poll_id}/ballot"
    yes = {"answers": [{"question_id": "q1", "option_ids": ["o1"]}]}
    no = {"answers": [{"question_id": "q1", "option_ids": ["o2"]}]}
    double = await asyncio.gather(*(api.post(ballot, headers=near, json=yes) for _ in range(10)))
    assert sorted(r.status_code for r in double) == [200] * 9 + [201], [r.text for r in double]
    assert (await api.post(ballot, headers=other, json=no)).status_code == 201
    assert (await api.get(f"/api/v1/polls/{poll_id}/results")).status_code == 409  # not before closing

    async def closed() -> dict | None:
        poll = (await api.get(f"/api/v1/polls/{poll_id}")).json()
        return poll if poll["status"] == "closed" else None

    poll = await eventually(closed, timeout=40)
    assert datetime.fromisoformat(poll["closed_at"]) >= closes_at
    results = (await api.get(f"/api/v1/polls/{poll_id}/results")).json()
    assert results["final"] is True and results["ballots"] == 2
    assert [(o["count"], o["percent"]) for o in results["questions"][0]["options"]] == [(1, 50.0), (1, 50.0)]

    async def near_told() -> bool:
        return {"poll_opened", "poll_results"} <= await feed_kinds(api, near, poll_id)

    await eventually(near_told, timeout=30)

    def mailed(messages: list[EmailMessage]) -> bool:
        to = {str(m["To"]) for m in messages if body["title"] in str(m["Subject"])}
        return {"near@example.org", "city-polls@example.org"} <= to

    messages = await mail.wait_for(mailed, timeout=30)
    ours = [m for m in messages if body["title"] in str(m["Subject"])]
    assert "far@example.org" not in {str(m["To"]) for m in ours}
    assert await feed_kinds(api, far, poll_id) == set()
    assert await feed_kinds(api, operator, poll_id) == {"poll_closed"}


def test_make_run_publishes_one_demo_poll(stack: LocalStack) -> None:
    first = seed_demo_poll(stack.url("intake"))
    assert first is not None and first["status"] == "published" and first["area_ids"] == ["demograd"]
    again = seed_demo_poll(stack.url("intake"))  # a restarted `make run` keeps it
    assert again is not None and again["id"] == first["id"]
