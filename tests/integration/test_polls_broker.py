"""Polls over the real broker and the real store (the `mongo_url` fixture), behind the gateway:
one ballot per resident under concurrency, the closing timer firing by itself exactly once,
results published with `poll.closed`, ballots unlinked from voters by the consumer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.polls.flows import BALLOTS
from tests.infra import eventually
from tests.integration.polls_harness import PollsGateway, running_polls_gateway

pytestmark = pytest.mark.integration


@pytest.fixture
async def gw(rabbit_url: str, namespace: str, mongo_url: str) -> AsyncIterator[PollsGateway]:
    async with running_polls_gateway(rabbit_url, namespace, mongo_url) as gateway:
        yield gateway


def soon(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


async def test_concurrent_double_votes_count_once_and_the_poll_closes_by_itself(gw: PollsGateway) -> None:
    poll = await gw.published_poll(closes_at=soon(4))
    await eventually(lambda: asyncio.sleep(0, gw.events("poll.published", poll["id"])), timeout=10)
    resident = gw.token("resident-1")
    vote = {"answers": [{"question_id": "q1", "option_ids": ["o1"]}]}
    path = f"/api/v1/polls/{poll['id']}/ballot"
    responses = await asyncio.gather(*(gw.client.post(path, headers=resident, json=vote) for _ in range(10)))
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] * 9 + [201], [r.text for r in responses]
    other = {"answers": [{"question_id": "q1", "option_ids": ["o2"]}]}
    changed = await gw.client.post(path, headers=resident, json=other)
    assert changed.status_code == 409 and changed.json()["reason"] == "already_voted"
    second = await gw.client.post(path, headers=gw.token("resident-2"), json=other)
    assert second.status_code == 201, second.text
    mine = await gw.client.get(path, headers=resident)
    assert mine.json()["answers"] == [{"question_id": "q1", "option_ids": ["o1"], "text": None}]
    assert (await gw.client.get(f"/api/v1/polls/{poll['id']}/results")).status_code == 409  # not yet

    closed = await eventually(lambda: asyncio.sleep(0, gw.events("poll.closed", poll["id"])), timeout=20)
    assert len(closed) == 1
    results: dict[str, Any] = closed[0]["data"]["results"]
    assert results["final"] is True and results["ballots"] == 2
    assert [(o["count"], o["percent"]) for o in results["questions"][0]["options"]] == [(1, 50.0), (1, 50.0)]
    public = await gw.client.get(f"/api/v1/polls/{poll['id']}/results")
    assert public.status_code == 200 and public.json()["ballots"] == 2
    late = await gw.client.post(path, headers=gw.token("resident-3"), json=vote)
    assert late.status_code == 409

    ballots = gw.polls.state.runtime.db[BALLOTS]

    async def unlinked() -> bool:
        docs = await ballots.find({"poll_id": poll["id"]}).to_list(None)
        return len(docs) == 2 and all(not doc["linked"] for doc in docs)

    await eventually(unlinked, timeout=15)
    assert (await gw.client.get(path, headers=resident)).status_code == 404
    await asyncio.sleep(1)  # a few more closing ticks: still one poll.closed
    assert len(gw.events("poll.closed", poll["id"])) == 1


async def test_opinions_pass_moderation_and_results_show_live_when_allowed(gw: PollsGateway) -> None:
    poll = await gw.published_poll(results_while_open=True, revote_allowed=True)
    path = f"/api/v1/polls/{poll['id']}/ballot"
    rude = {"answers": [{"question_id": "q2", "text": "х у й"}]}
    refused = await gw.client.post(path, headers=gw.token("r1"), json=rude)
    assert refused.status_code == 422 and refused.json()["reason"] == "moderation", refused.text
    fine = {"answers": [{"question_id": "q2", "text": "Нужна площадка возле школы, там много детей"}]}
    assert (await gw.client.post(path, headers=gw.token("r1"), json=fine)).status_code == 201
    revote = {"answers": [{"question_id": "q1", "option_ids": ["o2"]}, *fine["answers"]]}
    replaced = await gw.client.post(path, headers=gw.token("r1"), json=revote)
    assert replaced.status_code == 200 and replaced.json()["outcome"] == "replaced"
    live = (await gw.client.get(f"/api/v1/polls/{poll['id']}/results")).json()
    assert live["final"] is False and live["ballots"] == 1
    assert live["questions"][0]["options"][1]["count"] == 1 and live["questions"][1]["opinions"] == 1
    opinions = await gw.client.get(f"/api/v1/polls/{poll['id']}/opinions", headers=gw.operator("city"))
    assert opinions.json()["items"] == [fine["answers"][0]["text"]]
    assert "r1" not in opinions.text and "r1" not in str(live)


async def test_cancelling_a_published_poll_publishes_poll_cancelled_once(gw: PollsGateway) -> None:
    poll = await gw.published_poll()
    draft = await gw.draft()
    # The draft first: its cancellation (announcing nothing) is over before the poll's event comes.
    assert (
        await gw.client.post(f"/api/v1/polls/{draft['id']}/cancel", headers=gw.operator())
    ).status_code == 200
    cancelled = await gw.client.post(f"/api/v1/polls/{poll['id']}/cancel", headers=gw.operator())
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled", cancelled.text
    [event] = await eventually(lambda: asyncio.sleep(0, gw.events("poll.cancelled", poll["id"])), timeout=10)
    assert event["specversion"] == "1.0" and event["source"] == "polls" and event["dataversion"] == 1
    assert event["data"]["poll_id"] == poll["id"] and event["data"]["area_ids"] == ["demograd"]
    assert event["data"]["cancelled_at"] and event["correlationid"]
    again = await gw.client.post(f"/api/v1/polls/{poll['id']}/cancel", headers=gw.operator())
    assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"
    # A vote on a cancelled poll is refused; nothing else about it is announced.
    vote = {"answers": [{"question_id": "q1", "option_ids": ["o1"]}]}
    refused = await gw.client.post(f"/api/v1/polls/{poll['id']}/ballot", headers=gw.token("r1"), json=vote)
    assert refused.status_code in (404, 409)
    assert gw.events("poll.cancelled", draft["id"]) == []
    assert len(gw.events("poll.cancelled", poll["id"])) == 1
