"""Competing consumers: three replicas each of routing, deadlines and notify on one namespace, so
they share each service's queue, and one store (the session's store process, or MONGO_URL), as in
deployment (docs/operations.md, "Replicas"); 30 appeals through the gateway. Shown:

- each appeal is routed once (exactly one `route` step in intake's timeline); every message
  published on the exchange is settled by exactly one replica of each service bound to it (the
  replicas' `handled` + `dead_lettered` counters add up to what a spy queue saw published, type
  by type: nothing handled twice, nothing lost); more than one replica of each service did some
  of the work;
- exactly one "registered" e-mail per appeal, none lost, whichever notify replica handled which
  event;
- timers claimed once across the three deadlines replicas (each answered appeal's rating window
  ends once: one `close` step).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from devstack.appeals import Appeal, Citizens, RegisteredSink, submit_all
from devstack.broker import delete_namespace
from devstack.mailsink import free_port
from devstack.replicas import (
    SCALED,
    EventSpy,
    handled,
    replica_counts,
    route_entries,
    settled,
    start_stack,
)
from devstack.stack import LocalStack
from tests.e2e.conftest import bearer
from tests.infra import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

APPEALS = 30
REPLICAS = 3

Counts = dict[str, dict[str, dict[tuple[str, ...], float]]]  # service → replica → (type, outcome) → n


@dataclass
class Run:
    stack: LocalStack
    sink: RegisteredSink
    spy: EventSpy
    appeals: list[Appeal]

    @property
    def numbers(self) -> list[str]:
        return [appeal.number for appeal in self.appeals]

    async def counts(self) -> Counts:
        async with httpx.AsyncClient(timeout=10) as client:
            return {service: await replica_counts(client, self.stack, service) for service in SCALED}


def unsettled(run: Run, counts: Counts) -> dict[str, dict[str, tuple[int, int]]]:
    """Per service, the types whose published messages are not all settled: (published, settled)."""
    out: dict[str, dict[str, tuple[int, int]]] = {}
    for service, per_replica in counts.items():
        types = {kind for replica in per_replica.values() for kind, _ in replica}
        for kind in types:
            done = sum(settled(replica, kind) for replica in per_replica.values())
            if done != run.spy.published(kind):
                out.setdefault(service, {})[kind] = (run.spy.published(kind), done)
    return out


@pytest.fixture(scope="module")
async def run(
    rabbit_url: str, mongo_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Run]:
    with RegisteredSink("127.0.0.1", free_port()) as sink:
        stack = await asyncio.to_thread(
            start_stack,
            sink,
            tmp_path_factory.mktemp("replicas"),
            replicas=dict.fromkeys(SCALED, REPLICAS),
            rabbit_url=rabbit_url,
            mongo_url=mongo_url,
            extra_env={
                "APPEALS_RETRY_BACKOFF_SECONDS": "0.1",  # a retry, or its dead letter, within ~2 s
                "DEADLINES_TICK_SECONDS": "0.2",
                "DEADLINES_RATING_WINDOW_SECONDS": "2",
            },
        )
        try:
            async with (
                EventSpy(rabbit_url, stack.namespace) as spy,
                httpx.AsyncClient(base_url=stack.url("intake"), timeout=15) as client,
            ):
                appeals = await submit_all(
                    client, Citizens(f"replicas-{uuid.uuid4().hex[:8]}").next(APPEALS), 6
                )
                result = Run(stack, sink, spy, appeals)

                async def quiet() -> Counts | None:
                    """Every published message settled, and every appeal has its e-mail or lost it."""
                    counts = await result.counts()
                    lost = sum(
                        r.get(("appeal.routed", "dead_lettered"), 0.0) for r in counts["notify"].values()
                    )
                    mailed = sink.count(result.numbers)
                    return counts if mailed + lost >= APPEALS and not unsettled(result, counts) else None

                await eventually(quiet, timeout=120, interval=0.25)
                await asyncio.sleep(0.5)  # a late duplicate would show up here
                yield result
        finally:
            await asyncio.to_thread(stack.stop)
            with contextlib.suppress(Exception):  # best effort: the broker may be away
                await delete_namespace(rabbit_url, stack.namespace)


async def test_each_appeal_is_routed_once(run: Run) -> None:
    async with httpx.AsyncClient(base_url=run.stack.url("intake"), timeout=10) as client:
        routes = await route_entries(client, run.appeals)
    assert routes == dict.fromkeys(run.numbers, 1)


async def test_each_message_is_settled_by_one_replica_and_the_work_spreads(run: Run) -> None:
    counts = await run.counts()
    assert unsettled(run, counts) == {}
    assert run.spy.published("appeal.submitted") >= APPEALS
    for service, per_replica in counts.items():
        assert len(per_replica) == REPLICAS
        busy = [process for process, replica in per_replica.items() if handled(replica) > 0]
        assert len(busy) > 1, f"{service}: only {busy} handled messages"
    for service in ("routing", "deadlines"):  # nothing of theirs depends on another replica's store
        failed = {
            (process, kind, outcome): value
            for process, replica in counts[service].items()
            for (kind, outcome), value in replica.items()
            if outcome != "handled"
        }
        assert failed == {}, service


async def test_registered_emails(run: Run) -> None:
    per_replica = (await run.counts())["notify"]
    routed_handled = sum(handled(replica, "appeal.routed") for replica in per_replica.values())
    lost = sum(replica.get(("appeal.routed", "dead_lettered"), 0.0) for replica in per_replica.values())
    mailed = run.sink.count(run.numbers)
    emails = sum(run.sink.registered[number] for number in run.numbers)
    # A handled first appeal.routed sends at most one e-mail (none if that replica already sent it).
    assert emails <= routed_handled
    assert run.sink.duplicates(run.numbers) == {}, "an appeal got more than one e-mail"
    assert mailed == APPEALS and lost == 0


async def test_timers_fire_once_across_replicas(run: Run) -> None:
    some = [appeal for appeal in run.appeals[:10] if appeal.number in run.sink.first_at]
    async with httpx.AsyncClient(base_url=run.stack.url("intake"), timeout=15) as gateway:
        for appeal in some:
            path = f"/api/v1/appeals/{appeal.id}"
            org = (await gateway.get(path, headers=appeal.headers)).json()["organization"]["id"]
            operator = await bearer(gateway, f"op-{org}", "operator", org)
            assert (await gateway.post(f"{path}/take", headers=operator)).status_code == 200
            answered = await gateway.post(f"{path}/answer", headers=operator, json={"text": "Сделано."})
            assert answered.status_code == 200, answered.text

        async def records() -> list[dict]:
            return [(await gateway.get(f"/api/v1/appeals/{a.id}", headers=a.headers)).json() for a in some]

        async def closed() -> list[dict] | None:
            current = await records()
            return current if all(r["status"] == "closed" for r in current) else None

        await eventually(closed, timeout=30, interval=0.5)
        await asyncio.sleep(1.0)  # a second firing would add a second `close`
        closes = [sum(e.get("action") == "close" for e in r["timeline"]) for r in await records()]
    assert closes == [1] * len(some)
