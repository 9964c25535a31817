"""SLA statistics against hand-computed expectations, through the deadlines' internal API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from libs.common.auth import INTERNAL_TOKEN_HEADER
from libs.common.clock import ManualClock
from libs.common.events import (
    AppealAnsweredV1,
    AppealClarifiedV1,
    AppealRatedV1,
    AppealRoutedV1,
    AppealTakenV1,
    ClarificationRequestedV1,
    EventType,
    OrganizationRef,
    RereviewRequestedV1,
    decode_payload,
    new_event,
)
from libs.common.settings import DEV_SECRET
from services.deadlines.app import create_app, policy_of
from services.deadlines.flows import DeadlineFlows
from services.deadlines.handlers import handlers
from services.deadlines.settings import DeadlinesSettings
from services.deadlines.stats import quantile

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ROADS = OrganizationRef(id="org-roads", name="Дорожное хозяйство")
PARKS = OrganizationRef(id="org-parks", name="Парки")
H = timedelta(hours=1)
D = timedelta(days=1)


def test_quantile_interpolates_between_ranks() -> None:
    assert quantile([], 0.5) is None
    assert quantile([7.0], 0.9) == 7.0
    assert quantile([1.0, 2.0, 4.0, 288.0], 0.5) == 3.0
    assert quantile([1.0, 2.0, 4.0, 288.0], 0.9) == pytest.approx(202.8)
    assert quantile(list(map(float, range(1, 11))), 0.9) == pytest.approx(9.1)


class Scenario:
    def __init__(self, flows: DeadlineFlows, clock: ManualClock, settings: DeadlinesSettings) -> None:
        self.flows, self.clock, self.table = flows, clock, handlers(flows, policy_of(settings))

    async def tick(self, at: timedelta) -> None:
        self.clock.advance(max(timedelta(0), T0 + at - self.clock()))
        await self.flows.fire_due(1000)

    async def send(self, at: timedelta, event_type: EventType, payload: BaseModel) -> None:
        self.clock.advance(max(timedelta(0), T0 + at - self.clock()))
        envelope = new_event(event_type, payload, source="t", subject=payload.appeal_id, correlation_id="c")  # type: ignore[attr-defined]
        await self.table[event_type](envelope, decode_payload(envelope))
        await self.flows.fire_due(1000)

    async def routed(self, appeal_id: str, at: timedelta, org: OrganizationRef, topic: str) -> None:
        payload = AppealRoutedV1(
            appeal_id=appeal_id,
            number=appeal_id,
            topic=topic,
            organization=org,
            rule="topic",
            answer_sla_days=10,
            timezone="UTC",
            routed_at=T0 + at,
        )
        await self.send(at, EventType.APPEAL_ROUTED, payload)

    async def fact(
        self, appeal_id: str, at: timedelta, event_type: EventType, model: type[BaseModel], **extra: Any
    ) -> None:
        payload = model(appeal_id=appeal_id, number=appeal_id, at=T0 + at, **extra)
        await self.send(at, event_type, payload)


async def play(scenario: Scenario) -> None:
    """Org roads: 4 appeals in the period (+1 before it); org parks: 1."""
    s = scenario
    await s.routed("c1", -5 * D, ROADS, "roads.potholes")  # before the period: left out
    for appeal_id in ("a1", "a2", "a3", "a4"):
        await s.routed(appeal_id, timedelta(0), ROADS, "roads.potholes")
    await s.fact("a4", 1 * H, EventType.APPEAL_TAKEN, AppealTakenV1, operator_id="o")
    await s.fact("a1", 2 * H, EventType.APPEAL_TAKEN, AppealTakenV1, operator_id="o")
    await s.fact("a2", 4 * H, EventType.APPEAL_TAKEN, AppealTakenV1, operator_id="o")
    await s.routed("b1", 1 * D, PARKS, "parks.trees")
    await s.fact(
        "a2",
        1 * D,
        EventType.APPEAL_CLARIFICATION_REQUESTED,
        ClarificationRequestedV1,
        operator_id="o",
        question="?",
    )
    await s.fact("b1", 1 * D + 10 * H, EventType.APPEAL_ANSWERED, AppealAnsweredV1, operator_id="o", text="t")
    await s.fact("a1", 2 * D, EventType.APPEAL_ANSWERED, AppealAnsweredV1, operator_id="o", text="t")
    await s.fact("a2", 2 * D, EventType.APPEAL_CLARIFIED, AppealClarifiedV1)
    await s.fact("a1", 3 * D, EventType.APPEAL_RATED, AppealRatedV1, score=5)
    await s.fact("b1", 3 * D, EventType.APPEAL_RATED, AppealRatedV1, score=3)
    await s.fact("a2", 5 * D, EventType.APPEAL_ANSWERED, AppealAnsweredV1, operator_id="o", text="t")
    await s.fact("a2", 6 * D, EventType.APPEAL_RATED, AppealRatedV1, score=2)
    await s.fact("a2", 6 * D, EventType.APPEAL_REREVIEW_REQUESTED, RereviewRequestedV1, round=1)
    await s.fact("a2", 8 * D, EventType.APPEAL_ANSWERED, AppealAnsweredV1, operator_id="o", text="t", round=1)
    await s.fact("a2", 9 * D, EventType.APPEAL_RATED, AppealRatedV1, score=4, round=1)
    await s.tick(11 * D)  # a3 and a4 miss 12 Mar 23:59:59; a3 is answered late
    await s.fact("a3", 12 * D, EventType.APPEAL_ANSWERED, AppealAnsweredV1, operator_id="o", text="t")


@pytest.fixture
async def api() -> AsyncIterator[httpx.AsyncClient]:
    settings = DeadlinesSettings(env="dev", public_min_received=1)
    clock = ManualClock(T0 - 10 * D)
    app: FastAPI = create_app(settings, clock)
    await play(Scenario(app.state.flows, clock, settings))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://deadlines", headers={INTERNAL_TOKEN_HEADER: DEV_SECRET}
    ) as client:
        yield client


PERIOD = {"from": (T0 - D).isoformat(), "to": (T0 + 30 * D).isoformat()}


async def test_organisations_table_matches_hand_computed_figures(api: httpx.AsyncClient) -> None:
    response = await api.get("/internal/stats/organizations", params=PERIOD)
    assert response.status_code == 200, response.text
    rows = {row["organization"]["id"]: row for row in response.json()["items"]}
    roads = rows["org-roads"]
    assert {
        k: roads[k]
        for k in (
            "received",
            "answered",
            "answered_pct",
            "answered_on_time",
            "answered_on_time_pct",
            "overdue",
        )
    } == {
        "received": 4,
        "answered": 3,
        "answered_pct": 75.0,
        "answered_on_time": 2,
        "answered_on_time_pct": 66.7,
        "overdue": 2,
    }
    # First response (hours): a4 1, a1 2, a2 4, a3 288 (its answer at day 12 was the first response).
    assert roads["first_response_hours"] == {"count": 4, "median": 3.0, "p90": 202.8}
    # Answer (working hours): a1 48, a2 120 - 24 paused = 96, a3 288.
    assert roads["answer_hours"] == {"count": 3, "median": 96.0, "p90": 249.6}
    assert roads["rereview_pct"] == 33.3
    assert (roads["rated"], roads["average_rating"]) == (3, 3.67)
    parks = rows["org-parks"]
    assert (parks["received"], parks["answered_on_time_pct"], parks["answer_hours"]["median"]) == (
        1,
        100.0,
        10.0,
    )
    assert (parks["rereview_pct"], parks["average_rating"]) == (0.0, 3.0)


async def test_topics_table_and_period_bounds(api: httpx.AsyncClient) -> None:
    topics = (await api.get("/internal/stats/topics", params=PERIOD)).json()
    assert [(row["topic"], row["received"]) for row in topics["items"]] == [
        ("parks.trees", 1),
        ("roads.potholes", 4),
    ]
    wider = {"from": (T0 - 6 * D).isoformat(), "to": PERIOD["to"]}
    topics = (await api.get("/internal/stats/topics", params=wider)).json()
    assert [(row["topic"], row["received"]) for row in topics["items"]] == [
        ("parks.trees", 1),
        ("roads.potholes", 5),
    ]
    assert topics["period"]["from"].startswith("2026-02-24")


async def test_public_ranking_holds_aggregates_only(api: httpx.AsyncClient) -> None:
    ranking = (await api.get("/internal/stats/public", params=PERIOD)).json()
    assert [(r["rank"], r["organization"]["id"]) for r in ranking["items"]] == [
        (1, "org-parks"),
        (2, "org-roads"),
    ]
    assert set(ranking["items"][0]) == {
        "rank",
        "organization",
        "received",
        "answered_pct",
        "answered_on_time_pct",
        "median_answer_hours",
        "median_first_response_hours",
        "average_rating",
    }
    speed = (await api.get("/internal/stats/public", params={**PERIOD, "order_by": "speed"})).json()
    assert [r["median_answer_hours"] for r in speed["items"]] == [10.0, 96.0]


async def test_the_internal_api_wants_the_token_and_a_sane_period(api: httpx.AsyncClient) -> None:
    response = await api.get("/internal/stats/organizations", headers={INTERNAL_TOKEN_HEADER: "wrong"})
    assert response.status_code == 401
    backwards = await api.get(
        "/internal/stats/organizations", params={"from": PERIOD["to"], "to": PERIOD["from"]}
    )
    assert backwards.status_code == 422 and backwards.headers["content-type"] == "application/problem+json"
    too_long = await api.get(
        "/internal/stats/topics", params={"from": "2020-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}
    )
    assert too_long.status_code == 422


async def test_an_appeals_timers_and_extension_audit(api: httpx.AsyncClient) -> None:
    body = (await api.get("/internal/appeals/a2/timers")).json()
    assert body["timers"]["answer"]["state"] == "done"
    assert body["timers"]["rating_window"]["state"] == "armed"
    assert [a["on_time"] for a in body["assignments"][0]["answers"]] == [True, True]
    assert (await api.get("/internal/appeals/nope/timers")).status_code == 404
