"""The catalogue in the store: idempotent loading, versioned admin changes, validation."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from libs.common.clock import ManualClock
from libs.common.contracts.routing import CatalogueEntity
from libs.common.http import Problem
from libs.common.store import open_store
from services.routing.catalogue import CatalogueStore
from services.routing.settings import DEMO_CATALOGUE
from tests.infra import Ticks
from tests.unit.test_routing_flows import harness

LAMP = {"topic": "landscaping.street_lighting", "area": "demograd", "organization": "dmg-landscaping"}


def store(dev: bool = True) -> CatalogueStore:
    return CatalogueStore(open_store(None, f"cat-{uuid.uuid4().hex[:8]}").db, ManualClock(), dev=dev)


async def test_loading_the_same_file_again_changes_nothing() -> None:
    catalogue = store()
    assert await catalogue.load_file(DEMO_CATALOGUE) == 1
    assert await catalogue.load_file(DEMO_CATALOGUE) == 1
    assert len(await catalogue.changes(10, 0)) == 1
    assert await catalogue.load_file(DEMO_CATALOGUE, force=True, actor="admin-1") == 2
    info = await catalogue.info()
    assert info.version == 2 and info.counts["areas"] == 6 and info.counts["topics"] >= 60


async def test_outside_dev_the_dev_topic_is_not_loaded_and_an_old_one_is_removed() -> None:
    db = open_store(None, f"cat-{uuid.uuid4().hex[:8]}").db
    catalogue = CatalogueStore(db, ManualClock(), dev=True)
    await catalogue.load_file(DEMO_CATALOGUE)
    assert "dev.short_sla" in (await catalogue.current()).topics
    production = CatalogueStore(db, ManualClock(), dev=False)
    await production.load_file(DEMO_CATALOGUE)  # a different hash: dev mode is part of it
    assert "dev.short_sla" not in (await production.current()).topics


async def test_a_rule_change_is_a_new_version_for_new_appeals_only() -> None:
    h = await harness()
    before = await h.submit(h.submitted())
    assert before["organization"]["id"] == "city-admin"
    changed = await h.catalogue.put(
        CatalogueEntity.RULES, "lamps-demograd", {**LAMP, "priority": 5}, "admin-1"
    )
    assert (changed["version"], changed["action"]) == (2, "create")
    after = await h.submit(h.submitted(author="citizen-2"))
    assert (after["organization"]["id"], after["rule"], after["catalogue_version"]) == (
        "dmg-landscaping",
        "rule:lamps-demograd",
        2,
    )
    unchanged = (await h.flows.assignment(before["_id"])).model_dump()
    assert (unchanged["organization"]["id"], unchanged["catalogue_version"]) == ("city-admin", 1)
    (log, *_) = await h.catalogue.changes(10, 0)
    assert (log["version"], log["actor"], log["entity"], log["entity_id"]) == (
        2,
        "admin-1",
        "rule",
        "lamps-demograd",
    )
    assert log["before"] is None and log["after"]["organization"] == "dmg-landscaping"


async def test_changes_that_would_break_the_catalogue_are_refused() -> None:
    catalogue = store()
    await catalogue.load_file(DEMO_CATALOGUE)
    cases: list[tuple[CatalogueEntity, str, dict[str, Any], str]] = [
        (CatalogueEntity.RULES, "r1", {**LAMP, "organization": "ghost"}, "no organisation 'ghost'"),
        (CatalogueEntity.RULES, "r1", {**LAMP, "id": "other"}, "differs from the path"),
        (CatalogueEntity.TOPICS, "roads.new", {"name": "Новая", "category": "nope", "answer_sla_days": 10, "responsible": "municipality"}, "unknown category"),
        (CatalogueEntity.TOPICS, "roads.bad", {"name": "Плохая", "category": "roads", "answer_sla_days": 0, "responsible": "municipality"}, "answer_sla_days"),
        (CatalogueEntity.ORGANIZATIONS, "region-admin", {"name": "Регион", "kind": "region", "parent": "min-health"}, "cycle"),
        (CatalogueEntity.AREAS, "demograd", {"name": "Город", "organization": "city-admin", "geometry": {"type": "Point", "coordinates": [43.7, 57.6]}}, "Polygon"),
    ]  # fmt: skip
    for entity, item_id, body, expected in cases:
        with pytest.raises(Problem) as refused:
            await catalogue.put(entity, item_id, body, "admin-1")
        assert refused.value.status == 422 and expected in refused.value.detail, (
            item_id,
            refused.value.detail,
        )
    assert await catalogue.version() == 1


async def test_an_area_overlapping_its_neighbours_is_refused_and_a_valid_one_accepted() -> None:
    catalogue = store()
    await catalogue.load_file(DEMO_CATALOGUE)
    city = await catalogue.item(CatalogueEntity.AREAS, "demograd")
    ring = city["geometry"]["coordinates"][0]
    grown = [[lon + (0.01 if lon > 43.8 else 0), lat] for lon, lat in ring]
    with pytest.raises(Problem) as overlap:
        await catalogue.put(
            CatalogueEntity.AREAS,
            "demograd",
            {**city, "geometry": {"type": "Polygon", "coordinates": [grown]}},
            "a",
        )
    assert "overlap" in overlap.value.detail
    renamed = await catalogue.put(
        CatalogueEntity.AREAS, "demograd", {**city, "aliases": ["демоград", "дмг"]}, "a"
    )
    assert renamed["action"] == "update"
    assert (await catalogue.current()).index.match_address("ДМГ, ул. Мира").id == "demograd"  # type: ignore[union-attr]


async def test_a_topic_is_retired_not_deleted_and_rules_can_be_deleted() -> None:
    catalogue = store()
    await catalogue.load_file(DEMO_CATALOGUE)
    topic = await catalogue.item(CatalogueEntity.TOPICS, "roads.potholes")
    await catalogue.put(CatalogueEntity.TOPICS, "roads.potholes", {**topic, "active": False}, "admin-1")
    assert not (await catalogue.current()).topics["roads.potholes"].active
    with pytest.raises(Problem) as refused:
        await catalogue.delete(CatalogueEntity.TOPICS, "roads.potholes", "admin-1")
    assert refused.value.status == 405
    deleted = await catalogue.delete(CatalogueEntity.RULES, "roads-bridges", "admin-1")
    assert deleted["action"] == "delete"
    with pytest.raises(Problem) as gone:
        await catalogue.item(CatalogueEntity.RULES, "roads-bridges")
    assert gone.value.status == 404


async def test_a_broken_data_file_is_refused_at_load(tmp_path: Path) -> None:
    data = json.loads(DEMO_CATALOGUE.read_text(encoding="utf-8"))
    data["rules"].append({"id": "broken", "topic": "roads.*", "organization": "ghost"})
    (tmp_path / "region.json").write_text(json.dumps(data), encoding="utf-8")
    (tmp_path / data["areas_file"]).write_bytes((DEMO_CATALOGUE.parent / data["areas_file"]).read_bytes())
    with pytest.raises(ValueError, match="ghost"):
        await store().load_file(tmp_path / "region.json")


async def test_a_changed_file_that_cannot_be_applied_keeps_the_stored_catalogue(tmp_path: Path) -> None:
    data = json.loads(DEMO_CATALOGUE.read_text(encoding="utf-8"))
    (tmp_path / data["areas_file"]).write_bytes((DEMO_CATALOGUE.parent / data["areas_file"]).read_bytes())
    path = tmp_path / "region.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    catalogue = store()
    await catalogue.load_file(path)
    await catalogue.put(CatalogueEntity.RULES, "lamps", LAMP, "admin-1")
    data["rules"].append(
        {"id": "lamps-2", "topic": "landscaping.*", "area": "atlantis", "organization": "city-admin"}
    )
    path.write_text(json.dumps(data), encoding="utf-8")
    assert await catalogue.load_file(path) == 2  # at start-up: logged, the service keeps the stored one
    assert "lamps" in {rule.id for rule in (await catalogue.current()).catalogue.rules}
    with pytest.raises(ValueError, match="atlantis"):
        await catalogue.load_file(path, force=True)  # an explicit reload says why (422 over HTTP)


async def test_another_replicas_change_is_read_within_the_recheck_interval_and_ours_at_once() -> None:
    db = open_store(None, f"cat-{uuid.uuid4().hex[:8]}").db
    ticks = Ticks()
    ours = CatalogueStore(db, ManualClock(), dev=True, recheck_seconds=2.0, monotonic=ticks)
    other = CatalogueStore(db, ManualClock(), dev=True, recheck_seconds=2.0, monotonic=ticks)
    await ours.load_file(DEMO_CATALOGUE)
    assert (await ours.current()).version == (await other.current()).version == 1
    changed = await ours.put(CatalogueEntity.RULES, "lamps", LAMP, "admin-1")
    assert (await ours.current()).version == changed["version"] == 2  # our own change: at once
    ticks.now += 1.9
    assert (await other.current()).version == 1  # the other replica trusts what it read
    ticks.now += 0.2
    assert (await other.current()).version == 2  # the interval is over: read again
    assert (await ours.current()).version == 2  # read again too (2.1 s since its last read)
    await other.delete(CatalogueEntity.RULES, "lamps", "admin-1")
    assert "lamps" not in {rule.id for rule in (await other.current()).catalogue.rules}
    assert "lamps" in {rule.id for rule in (await ours.current()).catalogue.rules}
    ticks.now += 2.0
    assert "lamps" not in {rule.id for rule in (await ours.current()).catalogue.rules}


async def test_with_no_recheck_interval_every_decision_reads_the_version() -> None:
    db = open_store(None, f"cat-{uuid.uuid4().hex[:8]}").db
    ticks = Ticks()
    ours = CatalogueStore(db, ManualClock(), dev=True, recheck_seconds=0, monotonic=ticks)
    other = CatalogueStore(db, ManualClock(), dev=True, recheck_seconds=0, monotonic=ticks)
    await ours.load_file(DEMO_CATALOGUE)
    assert (await other.current()).version == 1
    await ours.put(CatalogueEntity.RULES, "lamps", LAMP, "admin-1")
    assert (await other.current()).version == 2


async def test_decisions_finding_the_version_stale_together_read_it_once() -> None:
    db = open_store(None, f"cat-{uuid.uuid4().hex[:8]}").db
    ticks = Ticks()
    catalogue = CatalogueStore(db, ManualClock(), dev=True, recheck_seconds=1.0, monotonic=ticks)
    await catalogue.load_file(DEMO_CATALOGUE)
    await catalogue.current()
    reads = []
    read_version = catalogue.version

    async def counted() -> int:
        reads.append(ticks.now)
        await asyncio.sleep(0)  # the store's round trip: the other decisions run meanwhile
        return await read_version()

    catalogue.version = counted  # type: ignore[method-assign]
    ticks.now += 1.0
    found = await asyncio.gather(*(catalogue.current() for _ in range(16)))
    assert reads == [ticks.now] and {cc.version for cc in found} == {1}
