"""Public appeals: personal data masked (every kind, in every published field), what the public
and the author see; pure functions, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from services.intake.masking import HIDDEN, MaskedKind, mask
from services.intake.public_routes import open311_public_fields, public_view, publication

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "kind", "original"),
    [
        ("пишите на ivan.petrov@mail.ru срочно", MaskedKind.EMAIL, "ivan.petrov@mail.ru"),
        ("e-mail: a_b+c@sub.example.org.", MaskedKind.EMAIL, "a_b+c@sub.example.org"),
        ("звоните +7 (912) 345-67-89 вечером", MaskedKind.PHONE, "+7 (912) 345-67-89"),
        ("тел. 8 912 345 67 89", MaskedKind.PHONE, "8 912 345 67 89"),
        ("тел 89123456789", MaskedKind.PHONE, "89123456789"),
        ("домашний 22-33-44", MaskedKind.PHONE, "22-33-44"),
        ("живу в кв. 45 третий год", MaskedKind.FLAT, "кв. 45"),
        ("из квартиры 12а", MaskedKind.FLAT, "квартиры 12а"),
        ("кв45, подъезд 2", MaskedKind.FLAT, "кв45"),
        ("flat 7, second floor", MaskedKind.FLAT, "flat 7"),
        ("Я, Иванов Иван Иванович, прошу", MaskedKind.NAME, "Иванов Иван Иванович"),
        ("Иван Иванович Иванов сообщает", MaskedKind.NAME, "Иван Иванович Иванов"),
        ("соседка Мария Петровна шумит", MaskedKind.NAME, "Мария Петровна"),
        ("к Петрову И. И. и другим", MaskedKind.NAME, "Петрову И. И."),
        ("к И.И. Сидорову", MaskedKind.NAME, "И.И. Сидорову"),
        ("Меня зовут Анна Смирнова, дом 5", MaskedKind.NAME, "Анна Смирнова"),
    ],
)
def test_every_kind_of_personal_data_is_masked(text: str, kind: MaskedKind, original: str) -> None:
    result = mask(text)
    assert original not in result.text and HIDDEN in result.text
    assert (kind, original) in result.found


@pytest.mark.parametrize(
    "text",
    [
        "Яма на улице Мира у дома 15 с 12.03.2026",
        "Администрация города Демоград не отвечает",
        "Министерство здравоохранения области, поликлиника № 3, кабинет 12",
        "Автобус № 105 не ходит с 7:30 до 9:00, ул. Ленина, д. 4, корп. 2",
    ],
)
def test_places_dates_and_organisations_are_not_people(text: str) -> None:
    assert mask(text).text == text


def appeal(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": "a1",
        "number": "2026-000777",
        "kind": "complaint",
        "topic": "housing.roof",
        "status": "answered",
        "public": True,
        "author_id": "author",
        "organization": {"id": "uk-1", "name": "УК «Дом»"},
        "area_id": "demograd",
        "summary": "Течёт крыша над кв. 45",
        "description": "Я, Иванов Иван Иванович, тел. +7 912 345-67-89, прошу починить крышу.",
        "location": {"lat": 57.657123, "lon": 43.764987, "address": "ул. Мира, 5, кв. 45"},
        "contact": {"email": "ivanov@example.org"},
        "answers": [
            {"text": "Уважаемый Иванов И. И., крыша отремонтирована.", "at": NOW, "public": True},
            {"text": "Внутренняя переписка", "at": NOW},
        ],
        "created_at": NOW,
        "updated_at": NOW,
    }
    return doc | changes


def test_the_public_view_is_masked_everywhere_and_shows_public_answers_only() -> None:
    view = public_view(appeal())
    dumped = view.model_dump_json()
    for secret in ("кв. 45", "Иванов", "912", "ivanov@example.org", "author", "Внутренняя"):
        assert secret not in dumped, secret
    assert view.organization == "УК «Дом»" and view.area_id == "demograd" and view.status == "answered"
    assert (view.lat, view.lon) == (57.657, 43.765)  # rounded to ~100 m
    assert [a.text for a in view.answers] == ["Уважаемый [скрыто], крыша отремонтирована."]
    fields = open311_public_fields(appeal())
    assert "Иванов" not in str(fields) and fields["status_notes"] == view.answers[0].text


def test_the_author_sees_what_was_masked() -> None:
    seen = publication(appeal())
    assert seen.public and seen.listed
    assert {(item.field, item.kind, item.text) for item in seen.masked} >= {
        ("summary", "flat", "кв. 45"),
        ("description", "name", "Иванов Иван Иванович"),
        ("address", "flat", "кв. 45"),
    }
    assert not publication(appeal(status="received")).listed
    assert not publication(appeal(public=False)).public


async def test_routed_events_name_the_area_first_and_after_a_move() -> None:
    from libs.common.events import EventType, ReassignRequestedV1
    from tests.unit.test_routing_flows import harness, reassign_request

    h = await harness()
    appeal = await h.submit(h.submitted(lat=57.657, lon=43.7646))  # Город Демоград
    [first] = h.bus.of(EventType.APPEAL_ROUTED, appeal["_id"])
    assert first["area_id"] == "demograd"
    move = reassign_request(appeal["_id"], first["organization"]["id"])
    await h.flows.reassign(move, ReassignRequestedV1.model_validate(move.data))
    moved = h.bus.of(EventType.APPEAL_ROUTED, appeal["_id"])
    assert len(moved) == 2 and moved[-1]["area_id"] == "demograd"
    unplaced = await h.submit(h.submitted(lat=None, lon=None, author="citizen-2"))  # no place known
    assert h.bus.of(EventType.APPEAL_ROUTED, unplaced["_id"])[0]["area_id"] is None


async def test_problem_zones_link_to_the_public_appeals_behind_them() -> None:
    import httpx
    from fastapi import FastAPI

    from services.intake.gateway.catalogue_routes import catalogue_router
    from services.intake.gateway.clients import RoutingClient
    from services.intake.settings import IntakeSettings

    zones = {
        "since": NOW.isoformat(),
        "zones": [
            {
                "area_id": "demograd",
                "area_name": "Демоград",
                "topic": "roads.potholes",
                "topic_name": "Ямы",
                "appeals": 3,
                "clusters": 1,
            },
            {
                "area_id": None,
                "area_name": "—",
                "topic": "roads.potholes",
                "topic_name": "Ямы",
                "appeals": 1,
                "clusters": 0,
            },
        ],
        "hotspots": [],
    }
    app = FastAPI()
    routing = RoutingClient(
        IntakeSettings(env="dev"), httpx.MockTransport(lambda _: httpx.Response(200, json=zones))
    )
    app.include_router(catalogue_router(routing))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
        body = (await client.get("/api/v1/problem-zones")).json()
    await routing.close()
    linked, unplaced = body["zones"]
    assert linked["public_appeals"] == "/api/v1/public/appeals?area_id=demograd&topic=roads.potholes"
    assert "public_appeals" not in unplaced
