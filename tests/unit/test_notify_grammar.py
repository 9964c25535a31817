"""Organisation names in the case a Russian text needs (services/notify/grammar.py): the demo
catalogue's names and the common shapes of Russian authorities' names, after «в» (accusative)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.notify import service
from services.notify.grammar import Phrase, inflect
from services.notify.schemas import AudienceKind
from services.notify.schemas import NotificationKind as K

ACCUSATIVE = [
    # a feminine head and its adjectives change; the genitive complement stays
    ("Администрация города Демоград", "Администрацию города Демоград"),
    (
        "Администрация городского поселения город Лесогорск",
        "Администрацию городского поселения город Лесогорск",
    ),
    ("Государственная жилищная инспекция области", "Государственную жилищную инспекцию области"),
    ("Управа района Хамовники", "Управу района Хамовники"),
    ("Префектура Центрального административного округа", "Префектуру Центрального административного округа"),
    ("ответственная организация", "ответственную организацию"),
    # inanimate masculine and neuter heads read the same in the accusative
    ("Министерство ЖКХ и энергетики области", "Министерство ЖКХ и энергетики области"),
    (
        "Управление образования администрации города Демоград",
        "Управление образования администрации города Демоград",
    ),
    ("Департамент транспорта", "Департамент транспорта"),
    # an abbreviation with a quoted name is not declined, nor is anything the dictionary lacks
    ("ГКУ «Дирекция пассажирских перевозок области»", "ГКУ «Дирекция пассажирских перевозок области»"),
    ("МУП «Водоканал Демограда»", "МУП «Водоканал Демограда»"),
    ("Qwerty Services", "Qwerty Services"),
    ("", ""),
]


@pytest.mark.parametrize(("name", "accusative"), ACCUSATIVE)
def test_a_name_after_v_is_in_the_accusative(name: str, accusative: str) -> None:
    assert inflect(name, "accs") == accusative


def test_other_cases_and_the_case_of_the_letters() -> None:
    assert inflect("Городская служба благоустройства", "datv") == "Городской службе благоустройства"
    assert inflect("СЛУЖБА заказчика", "accs") == "СЛУЖБУ заказчика"
    with pytest.raises(ValueError, match="unknown case"):
        inflect("Управа района", "vocative")


def test_every_organisation_of_the_demo_catalogue_reads_right_after_v() -> None:
    catalogue = json.loads(Path("services/routing/data/demo_region.json").read_text(encoding="utf-8"))
    for organization in catalogue["organizations"]:
        name = organization["name"]
        accusative = inflect(name, "accs")
        # every word after the head noun is as written; a feminine head ends in -у/-ю
        assert accusative.split(" ")[-1] == name.split(" ")[-1]
        if name.startswith(("Администрация", "Государственная")):
            assert accusative.split(" ")[0].endswith(("ю", "ую")), accusative
        else:
            assert accusative == name, name


def test_a_russian_text_asks_for_the_case_and_an_english_one_takes_the_name() -> None:
    made = {
        lang: service.build(
            K.TRANSFERRED,
            audience=AudienceKind.CITIZEN,
            owner="user:u1",
            lang=lang,
            appeal_id="a1",
            number="2026-000001",
            event_id="e1",
            now=datetime.now(UTC),
            organization="Администрация города Демоград",
        )
        for lang in ("ru", "en")
    }
    assert "передано для рассмотрения в Администрацию города Демоград." in made["ru"].body
    assert "transferred to Администрация города Демоград." in made["en"].body
    assert f"{Phrase('Управа района'):accs}" == "Управу района"
