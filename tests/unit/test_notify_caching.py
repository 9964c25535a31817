"""What notify keeps in memory of organisations (caching.OrgCache through the Registry): read once
per TTL, this process's own writes seen by the very next event, another replica's within the TTL;
and what an event then costs in reads."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from typing import Any

import httpx
import pytest

from libs.common.clock import ManualClock
from libs.common.contracts.notify import OrgContacts, Preferences, PushSubscriptionIn, WebhookCreate
from libs.common.events import (
    AppealTakenV1,
    ClarificationRequestedV1,
    EventType,
)
from services.notify.app import create_app
from services.notify.caching import OrgCache
from services.notify.registry import Registry
from services.notify.settings import NotifySettings
from tests.infra import Ticks
from tests.unit.store_fakes import CountingDb
from tests.unit.test_notify_handlers import (
    NOW,
    FakeRelay,
    Notify,
    fact_event,
    routed,
    submitted,
)

TTL = 30.0


def subscription_body(endpoint: str) -> PushSubscriptionIn:
    """A browser's subscription (its keys well formed: an uncompressed P-256 point, 16 bytes)."""
    point = base64.urlsafe_b64encode(b"\x04" + bytes(range(64))).rstrip(b"=").decode()
    auth = base64.urlsafe_b64encode(bytes(16)).rstrip(b"=").decode()
    return PushSubscriptionIn.model_validate({"endpoint": endpoint, "keys": {"p256dh": point, "auth": auth}})


class Hooked:
    """notify over the in-memory store, its webhooks answered in-process, its org memory on Ticks."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []

        def hook(request: httpx.Request) -> httpx.Response:
            self.received.append(json.loads(request.content))
            return httpx.Response(204)

        settings = NotifySettings(
            env="dev",
            namespace=f"unit-{uuid.uuid4().hex[:8]}",
            mongo_url=None,
            allow_loopback_targets=True,
            channels="feed,email,webhook",
        )
        self.relay = FakeRelay()
        self.clock = ManualClock(NOW)
        app = create_app(
            settings, clock=self.clock, transport=self.relay, webhook_transport=httpx.MockTransport(hook)
        )
        self.notify = Notify(app, self.relay, self.clock)
        self.ticks = Ticks()
        self.registry: Registry = app.state.flows.registry
        self.registry.orgs = OrgCache(TTL, now=self.ticks)

    def another_replica(self) -> Registry:
        """The registry of another notify process on the same store (its writes unseen here)."""
        return Registry(self.notify.db, self.clock, allow_insecure=True, allow_loopback=True)

    def events(self, event_type: str) -> list[dict[str, Any]]:
        return [body for body in self.received if body["event"]["type"] == event_type]


@pytest.fixture
def hooked() -> Hooked:
    return Hooked()


def taken(appeal_id: str = "a1") -> Any:
    return fact_event(EventType.APPEAL_TAKEN, AppealTakenV1, appeal_id=appeal_id, operator_id="op-1")


def hook(org_id: str = "org-1") -> WebhookCreate:
    return WebhookCreate(url="http://127.0.0.1:9/hook", org_id=org_id, created_by="op-1")


# -- this process's own writes: the very next event --------------------------------------------


async def test_a_webhook_registered_is_used_for_the_very_next_event(hooked: Hooked) -> None:
    await hooked.notify.deliver(submitted())
    await hooked.notify.deliver(routed())  # the organisation's webhooks (none) are now in memory
    assert hooked.received == []

    created = await hooked.registry.add_webhook(hook())
    await hooked.notify.deliver(taken())  # the clock has not moved: only the write's forgetting helps
    assert [body["event"]["type"] for body in hooked.received] == ["appeal.taken"]

    assert await hooked.registry.remove_webhook(created.id, {"org_id": "org-1"})
    question = fact_event(
        EventType.APPEAL_CLARIFICATION_REQUESTED, ClarificationRequestedV1, operator_id="op-1", question="?"
    )
    await hooked.notify.deliver(question)
    assert hooked.events("appeal.clarification_requested") == []  # removed: never planned again
    assert await hooked.notify.db["deliveries"].count_documents({"channel": "webhook"}) == 1


async def test_contacts_changed_here_at_once_and_by_another_replica_within_the_ttl(hooked: Hooked) -> None:
    first = OrgContacts(operator_emails=["first@org1.example"])
    await hooked.registry.set_org_contacts("org-1", first, "admin")
    await hooked.notify.deliver(submitted("a1"))
    await hooked.notify.deliver(routed())
    assert [m["To"] for m in hooked.relay.sent] == ["first@org1.example"]

    # Changed through this process: the next event's e-mail goes to the new mailbox.
    second = OrgContacts(operator_emails=["second@org1.example"])
    await hooked.registry.set_org_contacts("org-1", second, "admin")
    await hooked.notify.deliver(routed_to("a2"))
    assert hooked.relay.sent[-1]["To"] == "second@org1.example"

    # Changed through another replica: unseen until the kept copy is TTL seconds old, then seen.
    third = OrgContacts(operator_emails=["third@org1.example"])
    await hooked.another_replica().set_org_contacts("org-1", third, "admin")
    hooked.ticks.now += TTL - 0.001
    await hooked.notify.deliver(routed_to("a3"))
    assert hooked.relay.sent[-1]["To"] == "second@org1.example"
    hooked.ticks.now += 0.001
    await hooked.notify.deliver(routed_to("a4"))
    assert hooked.relay.sent[-1]["To"] == "third@org1.example"
    # The API's own read is never from memory.
    assert (await hooked.registry.org_contacts("org-1")).operator_emails == ["third@org1.example"]


async def test_a_webhook_registered_through_another_replica_is_used_after_the_ttl(hooked: Hooked) -> None:
    await hooked.notify.deliver(submitted())
    await hooked.notify.deliver(routed())
    await hooked.another_replica().add_webhook(hook())
    await hooked.notify.deliver(taken())
    assert hooked.received == []  # within the TTL: the kept (empty) list
    hooked.ticks.now += TTL
    question = fact_event(
        EventType.APPEAL_CLARIFICATION_REQUESTED, ClarificationRequestedV1, operator_id="op-1", question="?"
    )
    await hooked.notify.deliver(question)
    assert [body["event"]["type"] for body in hooked.received] == ["appeal.clarification_requested"]


def routed_to(appeal_id: str) -> Any:
    """A first routing of another appeal to org-1 (a new organisation's e-mail each time)."""
    event = routed()
    payload = event.data | {"appeal_id": appeal_id}
    return event.model_copy(update={"data": payload, "subject": appeal_id, "id": uuid.uuid4().hex})


# -- what an event then reads ------------------------------------------------------------------


async def test_the_organisations_data_is_read_once_per_ttl(hooked: Hooked) -> None:
    counting = CountingDb(hooked.registry._db)
    hooked.registry._db = counting  # type: ignore[assignment]
    await hooked.registry.add_webhook(hook())
    await hooked.notify.deliver(submitted())
    counting.calls.clear()
    await hooked.notify.deliver(routed())
    assert sorted(counting.calls) == ["org_contacts.find_one", "webhooks.find"]  # push is off here

    counting.calls.clear()
    await hooked.notify.deliver(routed_to("a2"))  # the same organisation, within the TTL
    await hooked.notify.deliver(taken())
    assert counting.calls == ["preferences.find_one"]  # the citizen's (for appeal.taken): not kept
    assert len(hooked.events("appeal.routed")) == 2 and len(hooked.events("appeal.taken")) == 1

    counting.calls.clear()
    hooked.ticks.now += TTL
    await hooked.notify.deliver(routed_to("a3"))
    assert sorted(counting.calls) == ["org_contacts.find_one", "webhooks.find"]  # push is off here


async def test_a_ttl_of_zero_keeps_nothing(hooked: Hooked) -> None:
    hooked.registry.orgs = OrgCache(0, now=hooked.ticks)
    counting = CountingDb(hooked.registry._db)
    hooked.registry._db = counting  # type: ignore[assignment]
    await hooked.notify.deliver(submitted())
    await hooked.notify.deliver(routed())
    await hooked.notify.deliver(routed_to("a2"))
    assert counting.calls.count("org_contacts.find_one") == 2
    assert len(hooked.registry.orgs) == 0


def test_the_setting_reaches_the_registry() -> None:
    settings = NotifySettings(env="dev", namespace="unit-ttl", mongo_url=None, org_cache_seconds=5)
    app = create_app(settings, clock=ManualClock(NOW), transport=FakeRelay())
    assert app.state.flows.registry.orgs.ttl == 5
    with pytest.raises(ValueError, match="org_cache_seconds"):
        NotifySettings(env="dev", org_cache_seconds=-1)


# -- the operators' push subscriptions ---------------------------------------------------------


async def test_an_operators_push_subscription_is_seen_at_once_and_forgotten_when_removed(
    hooked: Hooked,
) -> None:
    registry = hooked.registry
    assert await registry.push_targets_of_org("org-1") == ()  # kept: none
    view, _ = await registry.subscribe("op-1", "org-1", subscription_body("https://push.example/1"))
    assert [sub["_id"] for sub in await registry.push_targets_of_org("org-1")] == [view.id]

    assert await registry.unsubscribe("op-1", view.id)
    assert await registry.push_targets_of_org("org-1") == ()

    # The same browser registered by an operator of another organisation moves there.
    view, _ = await registry.subscribe("op-1", "org-1", subscription_body("https://push.example/2"))
    assert len(await registry.push_targets_of_org("org-1")) == 1
    await registry.subscribe("op-2", "org-2", subscription_body("https://push.example/2"))
    assert await registry.push_targets_of_org("org-1") == ()
    assert [sub["user_id"] for sub in await registry.push_targets_of_org("org-2")] == ["op-2"]

    # The push service said it is gone: the channel removed it and told the registry.
    gone = await hooked.notify.db["push_subscriptions"].find_one_and_delete({"_id": view.id})
    assert gone is not None
    registry.subscription_removed(gone)
    assert await registry.push_targets_of_org("org-2") == ()


async def test_a_citizens_push_subscription_forgets_nothing(hooked: Hooked) -> None:
    await hooked.registry.push_targets_of_org("org-1")
    kept = len(hooked.registry.orgs)
    await hooked.registry.subscribe("citizen-1", None, subscription_body("https://push.example/c"))
    assert len(hooked.registry.orgs) == kept


async def test_the_operators_preferences_are_one_read(hooked: Hooked) -> None:
    registry = hooked.registry
    await registry.set_preferences("op-1", Preferences(push=False))
    counting = CountingDb(registry._db)
    registry._db = counting  # type: ignore[assignment]
    found = await registry.preferences_of(["op-1", "op-2", "op-1"])
    assert counting.calls == ["preferences.find"]
    assert found == {"op-1": Preferences(push=False), "op-2": Preferences()}
    assert await registry.preferences_of([]) == {}


# -- OrgCache itself ---------------------------------------------------------------------------


async def test_an_entry_lives_ttl_seconds_from_the_start_of_its_read() -> None:
    ticks = Ticks()
    cache = OrgCache(10, now=ticks)
    reads: list[int] = []

    async def load() -> int:
        reads.append(1)
        ticks.now += 2  # the read itself takes time: the entry's age counts from its start
        return len(reads)

    assert await cache.get("k", load) == 1
    ticks.now += 7.999  # 9.999 s after the read began
    assert await cache.get("k", load) == 1
    ticks.now += 0.001
    assert await cache.get("k", load) == 2
    assert len(reads) == 2


async def test_a_read_in_flight_while_this_process_writes_is_not_kept() -> None:
    cache = OrgCache(10, now=Ticks())
    started, release = asyncio.Event(), asyncio.Event()

    async def slow() -> str:
        started.set()
        await release.wait()
        return "before the write"

    async def fresh() -> str:
        return "after the write"

    reading = asyncio.create_task(cache.get("k", slow))
    await started.wait()
    cache.forget("k")  # the write finished while the read was in flight
    release.set()
    assert await reading == "before the write"  # it began before the write: may say so once
    assert await cache.get("k", fresh) == "after the write"  # but it was not kept


async def test_the_least_recently_used_entries_go_first() -> None:
    cache = OrgCache(10, now=Ticks(), max_entries=2)

    async def value(name: str) -> str:
        return name

    for key in ("a", "b"):
        await cache.get(key, lambda key=key: value(key))
    await cache.get("a", lambda: value("again"))  # a is used: b is now the oldest
    await cache.get("c", lambda: value("c"))
    assert len(cache) == 2
    assert await cache.get("a", lambda: value("reloaded")) == "a"
    assert await cache.get("b", lambda: value("reloaded")) == "reloaded"


async def test_callers_of_a_key_whose_read_is_in_flight_share_it() -> None:
    cache = OrgCache(10, now=Ticks())
    reads: list[str] = []
    release = asyncio.Event()

    async def load() -> str:
        reads.append("read")
        await release.wait()
        return "contacts"

    waiting = [asyncio.create_task(cache.get("k", load)) for _ in range(5)]
    await asyncio.sleep(0)
    waiting[0].cancel()  # one caller gives up: the others still get the read
    release.set()
    assert await asyncio.gather(*waiting[1:]) == ["contacts"] * 4
    assert reads == ["read"]


async def test_a_failed_read_fails_its_callers_and_is_not_kept() -> None:
    cache = OrgCache(10, now=Ticks())

    async def broken() -> str:
        raise ConnectionError("the store is away")

    async def fine() -> str:
        return "contacts"

    results = await asyncio.gather(cache.get("k", broken), cache.get("k", broken), return_exceptions=True)
    assert all(isinstance(result, ConnectionError) for result in results)
    assert await cache.get("k", fine) == "contacts"
