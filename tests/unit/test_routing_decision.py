from services.routing.schemas import Catalogue
from services.routing.service import FALLBACK_SLA_DAYS, decide
from services.routing.settings import DEMO_CATALOGUE


def catalogue() -> Catalogue:
    return Catalogue.model_validate_json(DEMO_CATALOGUE.read_text(encoding="utf-8"))


def test_topic_decides_the_responsible_organisation_and_sla() -> None:
    decision = decide(catalogue(), "roads.potholes")
    assert decision.organization.id == "min-transport"
    assert decision.rule == "topic:roads.potholes"
    assert decision.answer_sla_days == 30
    assert decision.timezone == "Europe/Moscow"


def test_unknown_topic_falls_back_to_the_region_default() -> None:
    decision = decide(catalogue(), "no.such.topic")
    assert decision.organization.id == "region-admin"
    assert decision.rule == "fallback:region-default"
    assert decision.answer_sla_days == FALLBACK_SLA_DAYS
