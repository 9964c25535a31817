"""Routing decisions over the demo region's catalogue: topic × place → organisation."""

from __future__ import annotations

from functools import cache

import pytest

from services.routing.catalogue import read_catalogue_file
from services.routing.schemas import Catalogue, OrgKind, Rule
from services.routing.service import FALLBACK_SLA_DAYS, CompiledCatalogue, Place, decide, validate
from services.routing.settings import DEMO_CATALOGUE

CITY_POINT = Place(57.65, 43.77)  # Демоград, the walking skeleton's street lamp
KRASNOBOR_POINT = Place(57.50, 43.80)
LESOGORSK_POINT = Place(57.68, 44.15)  # a town inside the Сосновский district
OUTSIDE = Place(55.75, 37.62)  # Moscow: outside the demo region


@cache
def demo(dev: bool = True) -> Catalogue:
    data, _ = read_catalogue_file(DEMO_CATALOGUE, dev)
    return Catalogue.model_validate({**data.model_dump(exclude={"areas_file"}), "version": 7})


@cache
def compiled(dev: bool = True) -> CompiledCatalogue:
    return CompiledCatalogue(demo(dev))


def test_the_demo_catalogue_is_sound_and_realistic() -> None:
    catalogue = demo(False)
    assert validate(catalogue) == []
    assert len(catalogue.topics) >= 60
    categories = {topic.category for topic in catalogue.topics}
    assert {
        "health",
        "roads",
        "transport",
        "housing",
        "utilities",
        "landscaping",
        "education",
        "social",
    } <= categories
    codes = {topic.code for topic in catalogue.topics}
    kept = {
        "roads.potholes", "transport.schedule", "health.appointment", "housing.yard_cleaning",
        "utilities.heating", "landscaping.street_lighting", "education.kindergarten", "social.child_payments",
    }  # fmt: skip
    assert kept <= codes
    assert all(10 <= topic.answer_sla_days <= 30 for topic in catalogue.topics)
    assert all(4 <= (topic.first_response_sla_hours or 4) <= 9 for topic in catalogue.topics)
    assert len(catalogue.areas) >= 5
    kinds = {org.kind for org in catalogue.organizations}
    assert kinds == set(OrgKind)
    assert all(org.supervisor and org.supervisor.email for org in catalogue.organizations)


def test_street_lighting_in_the_city_goes_to_the_city_administration() -> None:
    decision = decide(compiled(), "landscaping.street_lighting", CITY_POINT)
    assert decision.organization.id == "city-admin"
    assert decision.organization.name == "Администрация города Демоград"
    assert decision.rule == "rule:landscaping-municipal"
    assert (decision.area_id, decision.located_by) == ("demograd", "point")
    assert decision.answer_sla_days == 20
    assert decision.timezone == "Europe/Moscow"
    assert decision.catalogue_version == 7


@pytest.mark.parametrize(
    ("topic", "place", "organization", "rule"),
    [
        ("roads.potholes", CITY_POINT, "dmg-roads", "rule:roads-demograd"),
        ("roads.potholes", KRASNOBOR_POINT, "krasnobor-admin", "rule:roads-municipal"),
        ("roads.bridges", CITY_POINT, "regional-roads", "rule:roads-bridges"),
        ("health.appointment", CITY_POINT, "gp-demograd-1", "rule:health-demograd"),
        ("health.appointment", LESOGORSK_POINT, "crb-sosnovsky", "rule:health-lesogorsk"),
        ("health.appointment", KRASNOBOR_POINT, "min-health", "rule:health-region"),
        ("utilities.heating", CITY_POINT, "dmg-heating", "rule:utilities-demograd-heating"),
        ("utilities.cold_water", LESOGORSK_POINT, "lesogorsk-admin", "rule:utilities-municipal"),
        ("housing.management_company", CITY_POINT, "gzhi", "rule:housing-management"),
        ("social.child_payments", CITY_POINT, "social-payments", "rule:social-payments"),
        ("education.kindergarten", KRASNOBOR_POINT, "krasnobor-admin", "rule:education-municipal"),
    ],
)
def test_topic_and_place_decide_the_organisation(
    topic: str, place: Place, organization: str, rule: str
) -> None:
    decision = decide(compiled(), topic, place)
    assert (decision.organization.id, decision.rule) == (organization, rule)


def test_priority_beats_a_more_specific_rule() -> None:
    # health.* @ lesogorsk is more specific, but the ambulance rule has priority 10.
    decision = decide(compiled(), "health.ambulance", LESOGORSK_POINT)
    assert decision.organization.id == "ambulance"
    assert decision.candidates[:2] == ("ambulance", "crb-sosnovsky")


def test_without_a_point_the_address_names_the_municipality() -> None:
    decision = decide(compiled(), "landscaping.street_lighting", Place(address="г. Демоград, ул. Мира, 3"))
    assert (decision.organization.id, decision.located_by) == ("city-admin", "address")


def test_a_point_outside_the_region_falls_back_to_the_address() -> None:
    decision = decide(
        compiled(), "landscaping.street_lighting", Place(55.75, 37.62, "Демоград, ул. Примерная, 5")
    )
    assert (decision.area_id, decision.located_by) == ("demograd", "address")


def test_a_place_found_nowhere_uses_region_wide_rules_then_the_region_default() -> None:
    regional = decide(compiled(), "transport.schedule", OUTSIDE)
    assert (regional.organization.id, regional.located_by) == ("regional-transport", "none")
    municipal = decide(compiled(), "landscaping.street_lighting", OUTSIDE)
    assert (municipal.organization.id, municipal.rule) == ("region-admin", "fallback:region-default")


def test_unknown_topic_falls_back_to_the_region_default() -> None:
    decision = decide(compiled(), "no.such.topic", CITY_POINT)
    assert decision.organization.id == "region-admin"
    assert decision.rule == "fallback:unknown-topic"
    assert decision.answer_sla_days == FALLBACK_SLA_DAYS


def test_the_topics_kind_decides_when_no_rule_matches() -> None:
    catalogue = demo().model_copy(
        update={"rules": [r for r in demo().rules if not r.topic.startswith("landscaping")]}
    )
    decision = decide(CompiledCatalogue(catalogue), "landscaping.parks", KRASNOBOR_POINT)
    assert (decision.organization.id, decision.rule) == ("krasnobor-admin", "kind:municipality")


def test_an_inactive_organisation_is_skipped() -> None:
    orgs = [o.model_copy(update={"active": o.id != "dmg-roads"}) for o in demo().organizations]
    decision = decide(
        CompiledCatalogue(demo().model_copy(update={"organizations": orgs})), "roads.potholes", CITY_POINT
    )
    assert (decision.organization.id, decision.rule) == ("city-admin", "rule:roads-municipal")


def test_a_point_near_a_border_lists_the_neighbours_organisations_as_candidates() -> None:
    # 100 m inside the city from its southern border (the vertex at 57.594, 43.770).
    decision = decide(compiled(), "landscaping.street_lighting", Place(57.5949, 43.770))
    assert decision.organization.id == "city-admin"
    assert "krasnobor-admin" in decision.candidates
    assert "krasnobor-admin" not in decide(compiled(), "landscaping.street_lighting", CITY_POINT).candidates


def test_the_dev_topic_exists_only_in_dev_and_has_a_one_minute_deadline() -> None:
    assert "dev.short_sla" not in {t.code for t in demo(False).topics}
    decision = decide(compiled(True), "dev.short_sla", CITY_POINT)
    assert decision.answer_sla_minutes == 1
    assert compiled(True).topics["dev.short_sla"].name == "Демо: короткий срок"


def test_validation_names_what_is_broken() -> None:
    broken = demo().model_copy(
        update={
            "rules": [*demo().rules, Rule(id="bad", topic="nope.*", area="atlantis", organization="ghost")],
            "default_organization": "nobody",
        }
    )
    problems = validate(broken)
    assert any("default organisation" in p for p in problems)
    assert any("no topic or category 'nope.*'" in p for p in problems)
    assert any("no area 'atlantis'" in p for p in problems)
    assert any("no organisation 'ghost'" in p for p in problems)
    cyclic = [
        o.model_copy(update={"parent": "min-health"}) if o.id == "region-admin" else o
        for o in demo().organizations
    ]
    assert any("cycle" in p for p in validate(demo().model_copy(update={"organizations": cyclic})))
