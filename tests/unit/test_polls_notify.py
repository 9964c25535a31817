"""notify's poll notices (services/notify/polls.py) through create_app's handlers, over the
in-memory store and a fake SMTP relay; and the gateway's OpenAPI listing the poll endpoints."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from libs.common.clock import ManualClock
from libs.common.contracts.notify import OrgContacts
from libs.common.contracts.polls import PollKind, PollResults, PollStatus
from libs.common.events import EventType, new_event
from libs.common.poll_events import PollCancelledV1, PollClosedV1, PollPublishedV1
from services.intake.app import create_app as create_intake
from services.intake.settings import IntakeSettings
from services.notify.app import create_app
from services.notify.messages import tell
from services.notify.polls import POLL_KINDS
from services.notify.rendering import render_email
from services.notify.schemas import NotificationKind as K
from services.notify.schemas import Recipient
from services.notify.settings import NotifySettings
from services.polls.app import create_app as create_polls
from services.polls.settings import PollsSettings
from tests.unit.test_notify_handlers import FakeRelay, Notify

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
TOKEN = {"X-Internal-Token": NotifySettings(env="dev").internal_token.get_secret_value()}


def published() -> PollPublishedV1:
    return PollPublishedV1(
        poll_id="p1",
        kind=PollKind.POLL,
        title="Скамейки на набережной",
        organization_id="city-admin",
        area_ids=["demograd"],
        opens_at=NOW,
        closes_at=NOW + timedelta(days=7),
        published_at=NOW,
    )


def closed() -> PollClosedV1:
    results = PollResults(
        poll_id="p1", status=PollStatus.CLOSED, final=True, ballots=42, questions=[], computed_at=NOW
    )
    data = published().model_dump(exclude={"opens_at", "published_at"})
    return PollClosedV1(**data, closed_at=NOW + timedelta(days=7), results=results)


def cancelled() -> PollCancelledV1:
    data = published().model_dump(exclude={"opens_at", "published_at"})
    return PollCancelledV1(**data, cancelled_at=NOW + timedelta(days=1))


def new_notify() -> tuple[Notify, FakeRelay]:
    relay = FakeRelay()
    settings = NotifySettings(env="dev", namespace=f"unit-{uuid.uuid4().hex[:8]}", mongo_url=None)
    clock = ManualClock(NOW)
    return Notify(create_app(settings, clock=clock, transport=relay), relay, clock), relay


async def test_opted_in_residents_of_the_area_and_the_organisation_are_told_once() -> None:
    notify, relay = new_notify()
    transport = httpx.ASGITransport(app=notify.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://notify") as client:
        for user, area in [("near", "demograd"), ("far", "zarechny")]:
            body = {"area_ids": [area], "email": f"{user}@example.org"}
            response = await client.put(f"/internal/poll-subscriptions/{user}", json=body, headers=TOKEN)
            assert response.status_code == 200, response.text
        assert (await client.get("/internal/poll-subscriptions/near", headers=TOKEN)).json()["area_ids"] == [
            "demograd"
        ]
        assert (await client.get("/internal/poll-subscriptions/near")).status_code in (401, 403)
    assert {EventType.POLL_PUBLISHED, EventType.POLL_CLOSED} <= set(
        notify.app.state.runtime.consumer.handlers
    )
    registry = notify.app.state.flows.registry
    await registry.set_org_contacts("city-admin", OrgContacts(operator_emails=["ops@example.org"]), "admin")

    opened = new_event(
        EventType.POLL_PUBLISHED, published(), source="polls", subject="p1", correlation_id="c"
    )
    await notify.deliver(opened)
    await notify.deliver(opened)  # a redelivery
    [item] = await notify.feed("near")
    assert item["kind"] == "poll_opened" and "Скамейки на набережной" in item["title"]
    assert "до 08.12.2026 12:00" in item["body"]  # 09:00 UTC, in the region's zone as the web shows it
    assert await notify.feed("far") == []
    assert [str(m["To"]) for m in relay.sent] == ["near@example.org"]
    assert "обращени" not in relay.sent[0].get_body(("plain",)).get_content().lower()  # not an appeal's mail

    await notify.deliver(
        new_event(EventType.POLL_CLOSED, closed(), source="polls", subject="p1", correlation_id="c")
    )
    assert {i["kind"] for i in await notify.feed("near")} == {"poll_opened", "poll_results"}
    org_feed = await notify.db["feed"].find({"owner": "org:city-admin"}).to_list()
    assert [i["kind"] for i in org_feed] == ["poll_closed"] and "42" in org_feed[0]["body"]
    assert sorted(str(m["To"]) for m in relay.sent) == [
        "near@example.org",
        "near@example.org",
        "ops@example.org",
    ]


async def test_opted_in_residents_are_told_once_of_a_cancelled_poll() -> None:
    notify, relay = new_notify()
    transport = httpx.ASGITransport(app=notify.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://notify") as client:
        body = {"area_ids": ["demograd"], "email": "near@example.org"}
        response = await client.put("/internal/poll-subscriptions/near", json=body, headers=TOKEN)
        assert response.status_code == 200, response.text
    assert EventType.POLL_CANCELLED in notify.app.state.runtime.consumer.handlers
    event = new_event(EventType.POLL_CANCELLED, cancelled(), source="polls", subject="p1", correlation_id="c")
    await notify.deliver(event)
    await notify.deliver(event)  # a redelivery
    [item] = await notify.feed("near")
    assert item["kind"] == "poll_cancelled" and "Скамейки на набережной" in item["title"]
    assert "отмен" in item["title"].lower()
    assert [str(m["To"]) for m in relay.sent] == ["near@example.org"]


def test_the_gateway_publishes_the_poll_endpoints_and_polls_stays_internal() -> None:
    paths = set(create_intake(IntakeSettings(env="dev")).openapi()["paths"])
    assert {
        "/api/v1/polls",
        "/api/v1/polls/drafts",
        "/api/v1/polls/{poll_id}",
        "/api/v1/polls/{poll_id}/publish",
        "/api/v1/polls/{poll_id}/cancel",
        "/api/v1/polls/{poll_id}/ballot",
        "/api/v1/polls/{poll_id}/results",
        "/api/v1/polls/{poll_id}/opinions",
        "/api/v1/me/poll-subscription",
    } <= paths
    internal = set(create_polls(PollsSettings(env="dev")).openapi()["paths"])
    assert all(
        path.startswith("/internal/") or path in {"/health", "/ready", "/metrics"} for path in internal
    )


HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)> {number} {0}"


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_every_poll_kind_renders_in_both_languages_with_hostile_titles_escaped(lang: str) -> None:
    resident = Recipient(user_id="u1", email="u1@example.org", lang=lang)
    e: dict[str, Any] = {"event_id": "e1", "now": NOW}
    opened, done = (
        published().model_copy(update={"title": HOSTILE}),
        closed().model_copy(update={"title": HOSTILE}),
    )
    notes = [
        tell(K.POLL_OPENED, opened, **e, lang=lang, person=resident),
        tell(K.POLL_RESULTS, done, **e, lang=lang, person=resident),
        tell(K.POLL_CLOSED, done, **e, lang=lang, org_id=done.organization_id),
        tell(
            K.POLL_CANCELLED,
            cancelled().model_copy(update={"title": HOSTILE}),
            **e,
            lang=lang,
            person=resident,
        ),
    ]
    assert {note.kind for note in notes} == POLL_KINDS
    for note in notes:
        assert note.lang == lang and "\n" not in note.title and HOSTILE in note.title
        assert note.appeal_id == "p1" and note.number == ""
        rendered = render_email(note, app_url="https://appeals.example.org")
        assert (
            "<script>" not in rendered.html
            and "<img" not in rendered.html
            and "&lt;script&gt;" in rendered.html
        )
        assert "https://appeals.example.org/polls/p1" in rendered.text
        assert "2026-" not in rendered.text and "№" not in rendered.text and "No." not in rendered.text
    assert "42" in notes[1].body and "42" in notes[2].body
    other = Recipient(user_id="u2", email=None, lang=lang)
    assert notes[0].key != tell(K.POLL_OPENED, opened, **e, lang=lang, person=other).key
