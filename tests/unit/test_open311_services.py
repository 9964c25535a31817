"""Open311 GeoReport v2 services from the catalogue's topics (services/intake/open311.py)."""

from __future__ import annotations

from services.intake.open311 import service_entry


def test_an_open311_service_names_its_answer_deadline() -> None:
    topic = {"code": "roads.potholes", "name": "Ямы", "category": "Дороги", "answer_sla_days": 30}
    assert service_entry(topic)["description"] == "Дороги: Ямы. Срок ответа — 30 дн."
    # the demo's short-deadline topics count in minutes (answer_sla_days is only a floor there)
    short = {**topic, "answer_sla_days": 1, "answer_sla_minutes": 2}
    assert service_entry(short)["description"] == "Дороги: Ямы. Срок ответа — 2 мин."
