"""What reaching a citizen reads (registry.citizen_reach): their preferences, and their push
subscriptions only when they may have some (the `push_subscribed` flag, set before a subscription
is stored, and set once at start for subscriptions an older version stored without it)."""

from __future__ import annotations

import uuid

import pytest

from libs.common.clock import ManualClock
from libs.common.contracts.notify import Preferences
from libs.common.store import Database, open_store
from services.notify.registry import MIGRATIONS, PUSH_FLAG_MIGRATION, Registry
from tests.unit.store_fakes import CountingDb
from tests.unit.test_notify_caching import subscription_body
from tests.unit.test_notify_handlers import NOW


@pytest.fixture
def db() -> Database:
    return open_store(None, f"reach_{uuid.uuid4().hex[:8]}").db


def registry_over(db: Database) -> Registry:
    return Registry(db, ManualClock(NOW), allow_insecure=False)


async def test_a_citizen_who_never_subscribed_costs_one_read(db: Database) -> None:
    counting = CountingDb(db)
    registry = registry_over(counting)  # type: ignore[arg-type]
    assert await registry.citizen_reach("citizen-1", push=True) == (Preferences(), [])
    assert counting.calls == ["preferences.find_one"]


async def test_a_subscriber_is_reached_on_each_of_their_browsers(db: Database) -> None:
    registry = registry_over(db)
    first, _ = await registry.subscribe("citizen-1", None, subscription_body("https://push.example/1"))
    second, _ = await registry.subscribe("citizen-1", None, subscription_body("https://push.example/2"))
    await registry.subscribe("citizen-2", None, subscription_body("https://push.example/3"))

    prefs, subscriptions = await registry.citizen_reach("citizen-1", push=True)
    assert prefs == Preferences()
    assert sorted(sub["_id"] for sub in subscriptions) == sorted([first.id, second.id])

    # Preferences set later keep the flag; push turned off, or not wanted, reads nothing more.
    await registry.set_preferences("citizen-1", Preferences(push=False))
    counting = CountingDb(db)
    registry._db = counting  # type: ignore[assignment]
    assert await registry.citizen_reach("citizen-1", push=True) == (Preferences(push=False), [])
    await registry.set_preferences("citizen-1", Preferences(email=False))
    assert (await registry.citizen_reach("citizen-1", push=False))[1] == []
    assert len((await registry.citizen_reach("citizen-1", push=True))[1]) == 2
    assert counting.calls.count("push_subscriptions.find") == 1


async def test_subscriptions_stored_before_the_flag_are_flagged_once_at_start(db: Database) -> None:
    registry = registry_over(db)
    # As an older version stored it: the subscription, no flag on the person.
    await db["push_subscriptions"].insert_one({"_id": "old-sub", "user_id": "citizen-9", "org_id": None})
    await registry.set_preferences("citizen-8", Preferences(email=False))
    await db["push_subscriptions"].insert_one({"_id": "old-sub-2", "user_id": "citizen-8", "org_id": None})
    assert (await registry.citizen_reach("citizen-9", push=True))[1] == []

    await registry.ensure_indexes()

    assert [sub["_id"] for sub in (await registry.citizen_reach("citizen-9", push=True))[1]] == ["old-sub"]
    prefs, subscriptions = await registry.citizen_reach("citizen-8", push=True)
    assert (prefs, [sub["_id"] for sub in subscriptions]) == (Preferences(email=False), ["old-sub-2"])
    assert (await db[MIGRATIONS].find_one({"_id": PUSH_FLAG_MIGRATION}) or {}).get("users") == 2

    # Done once: a later start does not read every subscription again.
    counting = CountingDb(db)
    await registry_over(counting).ensure_indexes()  # type: ignore[arg-type]
    assert "push_subscriptions.distinct" not in counting.calls
