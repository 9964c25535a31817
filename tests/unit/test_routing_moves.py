"""Reassignment ("not ours") never loops back; escalation climbs to the top and stays there."""

from __future__ import annotations

from functools import cache

from services.routing.catalogue import read_catalogue_file
from services.routing.schemas import Catalogue
from services.routing.service import CompiledCatalogue, Place, decide, escalation, reassignment
from services.routing.settings import DEMO_CATALOGUE

CITY = Place(57.65, 43.77)


@cache
def compiled() -> CompiledCatalogue:
    data, _ = read_catalogue_file(DEMO_CATALOGUE, False)
    return CompiledCatalogue(
        Catalogue.model_validate({**data.model_dump(exclude={"areas_file"}), "version": 3})
    )


def test_reassignment_walks_the_candidates_without_ever_going_back() -> None:
    cc = compiled()
    current = decide(cc, "roads.potholes", CITY).organization.id
    visited, refused = [current], set[str]()
    for _ in range(10):
        move = reassignment(cc, "roads.potholes", CITY, current, refused, 0)
        refused.add(current)
        if move.rule == "reassignment:exhausted":
            break
        assert move.organization.id not in refused
        current = move.organization.id
        visited.append(current)
    assert visited == ["dmg-roads", "city-admin", "regional-roads", "region-admin"]
    assert len(set(visited)) == len(visited)


def test_when_everyone_refused_the_region_default_and_its_supervisor_decide() -> None:
    cc = compiled()
    move = reassignment(
        cc, "roads.potholes", CITY, "region-admin", {"dmg-roads", "city-admin", "regional-roads"}, 1
    )
    assert move.organization.id == "region-admin"
    assert move.rule == "reassignment:exhausted"
    assert "cur@demo-oblast.ru" in move.note
    assert move.escalation_level == 1  # a reassignment keeps the level


def test_a_reassignment_names_the_rule_that_made_the_next_candidate() -> None:
    move = reassignment(compiled(), "landscaping.street_lighting", CITY, "city-admin", set(), 0)
    assert (move.organization.id, move.rule) == ("region-admin", "reassignment:fallback:region-default")
    near_border = Place(57.5949, 43.770)
    move = reassignment(compiled(), "landscaping.street_lighting", near_border, "city-admin", set(), 0)
    assert move.organization.id == "krasnobor-admin"
    assert move.rule == "reassignment:near:krasnoborsky:rule:landscaping-municipal"


def test_an_unknown_topic_can_only_go_to_the_region_default() -> None:
    move = reassignment(compiled(), "gone.topic", CITY, "city-admin", set(), 0)
    assert move.organization.id == "region-admin"


def test_escalation_climbs_the_hierarchy_to_the_top_and_stays_there() -> None:
    cc = compiled()
    current, level, chain = "gp-demograd-1", 0, ["gp-demograd-1"]
    for _ in range(5):
        move = escalation(cc, current, level)
        if move.organization.id == current:
            break
        assert move.escalation_level == level + 1
        assert move.rule == f"escalation:{current}->{move.organization.id}"
        current, level = move.organization.id, move.escalation_level
        chain.append(current)
    assert chain == ["gp-demograd-1", "min-health", "region-admin"]
    top = escalation(cc, "region-admin", 2)
    assert (top.organization.id, top.rule, top.escalation_level) == (
        "region-admin",
        "escalation:top-level",
        2,
    )
    assert "верхний уровень" in top.note


def test_a_town_escalates_to_its_district_first() -> None:
    cc = compiled()
    assert escalation(cc, "lesogorsk-admin", 0).organization.id == "sosnovsky-admin"
    assert escalation(cc, "sosnovsky-admin", 1).organization.id == "region-admin"


def test_escalation_skips_an_inactive_parent() -> None:
    data = compiled().catalogue
    orgs = [o.model_copy(update={"active": o.id != "min-health"}) for o in data.organizations]
    cc = CompiledCatalogue(data.model_copy(update={"organizations": orgs}))
    assert escalation(cc, "gp-demograd-1", 0).organization.id == "region-admin"


def test_an_organisation_no_longer_in_the_catalogue_escalates_to_the_region() -> None:
    move = escalation(compiled(), "deleted-org", 0)
    assert (move.organization.id, move.escalation_level) == ("region-admin", 1)
