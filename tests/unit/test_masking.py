"""Personal data never reaches public outputs: the masker, on Russian formats."""

from __future__ import annotations

import httpx
import pytest

from services.intake.app import create_app
from services.intake.masking import HIDDEN, mask_public, mask_text
from services.intake.settings import IntakeSettings


@pytest.mark.parametrize(
    "phone",
    [
        "+7 (999) 123-45-67",
        "+79991234567",
        "8-999-123-45-67",
        "89991234567",
        "8 (999) 123 45 67",
        "8 999 1234567",
        "7 999 123-45-67",
        "+7 999 123 45 67",
        "8 (4932) 12-34-56",
        "8.999.123.45.67",
        "123-45-67",
        "+375 29 123 45 67",
    ],
)
def test_phone_numbers_are_hidden(phone: str) -> None:
    masked = mask_text(f"Звоните: {phone}, после 18:00")
    assert masked == f"Звоните: {HIDDEN}, после 18:00"


@pytest.mark.parametrize(
    "email", ["ivan.petrov@mail.ru", "a+b@sub.example.org", "Резидент_1@yandex.ru", "x@пример.рф"]
)
def test_email_addresses_are_hidden(email: str) -> None:
    assert mask_text(f"пишите на {email} пожалуйста") == f"пишите на {HIDDEN} пожалуйста"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ул. Ленина, д. 5, кв. 12", f"ул. Ленина, д. 5, кв. {HIDDEN}"),
        ("Ленина 5 кв.5", f"Ленина 5 кв. {HIDDEN}"),
        ("квартира 17, третий этаж", f"квартира {HIDDEN}, третий этаж"),
        ("в квартире № 44 течёт", f"в квартире № {HIDDEN} течёт"),
        ("Кв 3а", f"Кв {HIDDEN}"),
        ("apt. 9", f"apt. {HIDDEN}"),
    ],
)
def test_flat_numbers_are_hidden_keeping_the_word(text: str, expected: str) -> None:
    assert mask_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Обращается Иванов Иван Иванович, житель дома",
        "Обращается Иван Петрович, житель дома",
        "Обращается Иванова Мария Сергеевна, житель дома",
        "Обращается Иванов И. И., житель дома",
        "Обращается И.И. Иванов, житель дома",
    ],
)
def test_full_names_and_initials_are_hidden(text: str) -> None:
    masked = mask_text(text)
    assert HIDDEN in masked
    assert "Иван" not in masked.replace("Обращается", "") and "Мария" not in masked
    assert masked.startswith("Обращается") or masked.startswith(HIDDEN)
    assert masked.endswith("житель дома")


def test_a_name_after_an_introduction_is_hidden() -> None:
    assert mask_text("Меня зовут Алексей. Яма у дома") == f"Меня зовут {HIDDEN}. Яма у дома"
    assert mask_text("С уважением, Ольга Смирнова") == f"С уважением, {HIDDEN}"


@pytest.mark.parametrize(
    "text",
    [
        "Яма на дороге у дома 15 по ул. Ленина, глубина 20 см",
        "Не вывозят мусор с 2026-11-20, уже 3 дня",
        "Остановка «Школа № 12», автобус 45",
        "Проспект Мира, 101",
        "Температура в школе +15 градусов",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert mask_text(text) == text


def test_masking_is_idempotent_and_structures_keep_identifiers() -> None:
    text = "Иванов И.И., тел. 8-999-123-45-67, кв. 5, ivan@mail.ru"
    once = mask_text(text)
    assert mask_text(once) == once
    assert "999" not in once and "ivan@" not in once and "Иванов" not in once
    public = mask_public(
        {"id": "89991234567", "items": [{"name": "ТСЖ, тел. 89991234567", "count": 3}], "code": "a.b"}
    )
    assert public == {
        "id": "89991234567",
        "items": [{"name": f"ТСЖ, тел. {HIDDEN}", "count": 3}],
        "code": "a.b",
    }


async def test_public_problem_zones_and_statistics_carry_no_personal_data() -> None:
    """Whatever text the upstream services put in, the gateway's public outputs are masked."""

    def upstream(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/problem-zones"):
            return httpx.Response(
                200,
                json={
                    "since": "2026-11-01T00:00:00Z",
                    "zones": [{"area": "Ленина 5, кв. 12", "topic": "roads.potholes", "count": 4}],
                    "hotspots": [{"label": "звоните 89991234567", "count": 3}],
                },
            )
        if request.url.path.endswith("/stats/public"):
            return httpx.Response(
                200, json={"items": [{"organization": {"id": "ip-1", "name": "ИП Иванов Иван Иванович"}}]}
            )
        return httpx.Response(404, json={"detail": "no fake"})

    app = create_app(IntakeSettings(env="dev"), upstream_transport=httpx.MockTransport(upstream))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
        zones = (await client.get("/api/v1/problem-zones")).json()
        ranking = (await client.get("/api/v1/stats/public")).json()
    assert zones["zones"][0] == {"area": f"Ленина 5, кв. {HIDDEN}", "topic": "roads.potholes", "count": 4}
    assert zones["hotspots"][0]["label"] == f"звоните {HIDDEN}"
    assert ranking["items"][0]["organization"] == {"id": "ip-1", "name": f"ИП {HIDDEN}"}


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("звоните 8 900 123-45-67, Иван Петров.", f"звоните {HIDDEN}, {HIDDEN}."),
        ("Спасибо Анне Смирновой за помощь", f"Спасибо {HIDDEN} за помощь"),
        ("Петров Иван написал", f"{HIDDEN} написал"),
    ],
)
def test_a_given_name_beside_a_surname_is_a_name(text: str, masked: str) -> None:
    assert mask_text(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "ул. Богдана Хмельницкого, 5",  # a street named after a person
        "Памятник Александру Пушкину грязный",
        "Фонарь на улице Ленина не горит",
        "Администрация Демограда не отвечает",
        "Вера в лучшее",  # a given name alone is a word too
    ],
)
def test_streets_places_and_lone_names_stay(text: str) -> None:
    assert mask_text(text) == text
