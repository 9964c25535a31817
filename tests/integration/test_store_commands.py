"""Store round trips are counted: every command a service's store client sends adds one to
`appeals_store_commands_total{command}` on its /metrics (the bench reads it per service)."""

from __future__ import annotations

import uuid

import pytest
from prometheus_client import REGISTRY, generate_latest

from devstack.metrics import STORE_COMMANDS, counter
from libs.common.store import open_store

pytestmark = pytest.mark.integration


def commands() -> dict[str, float]:
    """The counter as the bench reads it: from the exposition text, by command name."""
    return {
        key[0]: value
        for key, value in counter(generate_latest(REGISTRY).decode(), STORE_COMMANDS, ("command",)).items()
    }


async def test_each_command_sent_to_the_store_is_counted_once(mongo_url: str) -> None:
    store = open_store(mongo_url, f"commands_{uuid.uuid4().hex[:8]}")
    try:
        before = commands()
        await store.db.items.insert_one({"_id": "a", "n": 1})
        await store.db.items.insert_one({"_id": "b", "n": 2})
        await store.db.items.update_one({"_id": "a"}, {"$inc": {"n": 1}})
        assert await store.db.items.find_one({"_id": "a"}) == {"_id": "a", "n": 2}
        after = commands()
        await store.db.client.drop_database(store.db.name)
    finally:
        await store.close()
    sent = {name: after.get(name, 0.0) - before.get(name, 0.0) for name in after}
    assert sent.get("insert") == 2
    assert sent.get("update") == 1
    assert sent.get("find") == 1


def test_the_in_process_fake_sends_nothing_and_counts_nothing() -> None:
    before = commands()
    open_store(None, "commands_fake")
    assert commands() == before
