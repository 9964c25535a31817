"""The earlier appeals a new one is checked against: one query answers both the duplicate filter and
the repeat-after-an-answer lookup, and the answers are told apart."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from libs.common.events import EventType
from libs.common.store import open_store
from services.routing.earlier import REPEAT_CANDIDATES, EarlierAppeals
from services.routing.records import ASSIGNMENTS
from services.routing.settings import RoutingSettings
from tests.unit.test_routing_flows import START, TEXT, harness

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
HERE = {"lat": 57.65, "lon": 43.77, "address": None}


def assignment(number: str, **fields: Any) -> dict[str, Any]:
    return {
        "_id": uuid.uuid4().hex,
        "number": number,
        "author_id": "citizen-1",
        "resident": "citizen-1",
        "fingerprint": "fp",
        "topic": "roads.potholes",
        "status": "routed",
        "location": HERE,
        "organization": {"id": "dmg-roads", "name": "Дороги"},
        "submitted_at": NOW - timedelta(hours=1),
        **fields,
    }


async def lookup_after(*stored: dict[str, Any]) -> Any:
    db = open_store(None, f"earlier-{uuid.uuid4().hex[:8]}").db
    if stored:
        await db[ASSIGNMENTS].insert_many(list(stored))
    earlier = EarlierAppeals(db, RoutingSettings(env="dev", spam_window_minutes=60, repeat_window_days=30))
    return await earlier.lookup("new", "citizen-1", "fp", NOW, "citizen-1", "roads.potholes")


async def test_one_lookup_tells_the_open_duplicate_from_the_answered_appeals() -> None:
    open_one = assignment("2026-000003")
    answered = [
        assignment(f"2026-00000{i}", fingerprint="other", answered_at=NOW - timedelta(days=i)) for i in (1, 2)
    ]
    found = await lookup_after(open_one, *answered)
    assert found.duplicate["number"] == "2026-000003"
    # Newest answer first, as the repeat lookup compares them.
    assert [doc["number"] for doc in found.answered] == ["2026-000001", "2026-000002"]


async def test_the_same_text_answered_is_a_candidate_repeat_not_a_duplicate() -> None:
    found = await lookup_after(assignment("2026-000001", answered_at=NOW - timedelta(minutes=10)))
    assert found.duplicate is None
    assert [doc["number"] for doc in found.answered] == ["2026-000001"]


async def test_what_neither_question_asks_about_is_not_found() -> None:
    found = await lookup_after(
        assignment("old", submitted_at=NOW - timedelta(minutes=61)),  # outside the spam window
        assignment("rejected", status="rejected"),
        assignment("someone", author_id="citizen-2", resident="citizen-2"),
        assignment("long ago", fingerprint="x", answered_at=NOW - timedelta(days=31)),
        assignment("other topic", fingerprint="x", topic="roads.signs", answered_at=NOW),
        {**assignment("itself"), "_id": "new"},
    )
    assert found.duplicate is None and found.answered == []


async def test_of_several_open_duplicates_the_earliest_is_named_and_answers_are_capped() -> None:
    answered = [
        assignment(f"a-{i:03d}", fingerprint="x", answered_at=NOW - timedelta(hours=i)) for i in range(30)
    ]
    found = await lookup_after(
        assignment("second", submitted_at=NOW - timedelta(minutes=5)),
        assignment("first", submitted_at=NOW - timedelta(minutes=20)),
        *answered,
    )
    assert found.duplicate["number"] == "first"
    assert [doc["number"] for doc in found.answered] == [f"a-{i:03d}" for i in range(REPEAT_CANDIDATES)]


async def test_without_a_topic_only_the_duplicate_is_looked_up() -> None:
    db = open_store(None, f"earlier-{uuid.uuid4().hex[:8]}").db
    await db[ASSIGNMENTS].insert_one(assignment("2026-000001"))
    earlier = EarlierAppeals(db, RoutingSettings(env="dev"))
    found = await earlier.lookup("new", "citizen-1", "fp", NOW, "citizen-1", None)
    assert found.duplicate is not None and found.duplicate["number"] == "2026-000001"
    assert found.answered is None


async def test_an_open_duplicate_is_rejected_even_when_an_answered_repeat_exists() -> None:
    h = await harness()
    lamp = ("Фонарь", "Фонарь на улице Ленина опять не горит, темно.")
    answered = await h.submit(h.submitted(text=lamp))
    await h.flows.answered(answered["_id"], START + timedelta(hours=2))
    h.clock.advance(timedelta(days=1))
    open_one = await h.submit(h.submitted())
    assert open_one["repeat_of"]["number"] == answered["number"]  # linked: the same place, answered
    h.clock.advance(timedelta(minutes=5))
    again = await h.submit(h.submitted(text=TEXT))
    assert again["status"] == "rejected" and open_one["number"] in again["rejection"]["reason"]
    assert [e["appeal_id"] for e in h.bus.of(EventType.APPEAL_REJECTED)] == [again["_id"]]
