"""Moderation: every rule, positive and negative, and the obfuscations it must see through."""

from __future__ import annotations

import pytest

from services.routing.moderation import (
    REASONS,
    ReasonCode,
    Verdict,
    fingerprint,
    moderate,
    vocabulary,
)

SUMMARY = "Не горит фонарь"
DESCRIPTION = "Фонарь у дома 5 на улице Ленина не горит вторую неделю, вечером темно."

OBSCENE = [
    "хуй", "нахуй", "похуй", "охуели", "пизда", "пиздец", "блядь", "бля", "ебать", "заебали", "уёбок",
    "долбоёб", "съебался", "мудак", "пидор", "залупа", "мандавошка", "гандон", "сука",
    "fuck", "fucking", "motherfucker", "shit", "bitch", "cunt", "asshole",
    "blyat", "pizdec", "nahuy", "suka",
]  # fmt: skip
OBFUSCATED = [
    ("latin look-alikes", "xyй"),
    ("latin look-alikes", "cyкa"),
    ("latin look-alikes", "nизда"),
    ("ukrainian i", "пiзда"),
    ("digits for letters", "6ля"),
    ("digits for letters", "п1зда"),
    ("digits for letters", "sh1t happens"),
    ("repeated letters", "бляяяять"),
    ("repeated letters", "хуууууй"),
    ("repeated letters", "fuuuuck"),
    ("separators", "х.у.й"),
    ("separators", "х у й"),
    ("separators", "пиз-да"),
    ("separators", "f u c k"),
    ("separators", "f.u.c.k"),
    ("masks", "бл*ть"),
    ("masks", "х#й"),
    ("masks", "f**k"),
    ("symbols", "sh!t"),
    ("symbols", "a$$hole"),
    ("mixed", "ХУЙ"),
    ("mixed", "Б Л Я Т Ь"),
]
CLEAN = [
    "Хулиганы разбили остановку, нахулиганили во дворе",
    "Прошу застраховать, застрахуйте, подстрахуйте соседей",
    "Мандарины в школьной столовой, мандат депутата, команда, командир",
    "Вебинар для родителей, себестоимость, хлебать, уедешь, ребёнок, сукно, мудрый, скипидар",
    "Учебный год, небольшой, уехал, объект, съел, подъезд, разъезд, отъезд, изъян, рубля, корабля",
    "Стало хуже, похудеть, захудалый, художник, хутор, херувим, Херсон, сравнить, сражение",
    "Требовать, погреб, гребень, дебет, небо, жребий, зебра, оскорбляют, употребляю",
    "Assessment of the class, Scunthorpe, Dickens, eBay rebate, the hue, Fukushima, shiitake, cocktail",
    "Дом 36, кв. 69, д. 5 к. 2 с. 3, 1-й подъезд, 4 этаж, 100 руб. за проезд, 2026 год",
    "Соседская скотина ходит по огороду; уродливый забор у школы",
]
RUDE = [
    "говно во дворе",
    "полное дерьмо",
    "придурки из управляющей",
    "какая-то херня",
    "damn bus",
    "засранный подъезд",
]


@pytest.mark.parametrize("word", OBSCENE)
def test_obscene_words_are_rejected(word: str) -> None:
    outcome = moderate(SUMMARY, f"{DESCRIPTION} {word}!")
    assert (outcome.verdict, outcome.code) == (Verdict.REJECT, ReasonCode.PROFANITY)
    assert "нецензурную" in (outcome.reason() or "")


@pytest.mark.parametrize(("trick", "text"), OBFUSCATED, ids=[f"{t}:{w}" for t, w in OBFUSCATED])
def test_obfuscation_is_seen_through(trick: str, text: str) -> None:
    assert vocabulary(f"Опять {text}, сколько можно") == "obscene", trick


@pytest.mark.parametrize("text", CLEAN)
def test_ordinary_words_that_contain_or_resemble_obscene_ones_pass(text: str) -> None:
    assert vocabulary(text) is None
    assert moderate(SUMMARY, text).verdict is Verdict.ACCEPT


def test_obscene_words_in_the_summary_count_too() -> None:
    assert moderate("Пиздец с фонарём", DESCRIPTION).code is ReasonCode.PROFANITY


@pytest.mark.parametrize("text", RUDE)
def test_rude_but_not_obscene_words_go_to_a_moderator(text: str) -> None:
    outcome = moderate(SUMMARY, f"{DESCRIPTION} {text}")
    assert (outcome.verdict, outcome.code) == (Verdict.REVIEW, ReasonCode.RUDE)


@pytest.mark.parametrize(("summary", "description"), [("...", "!!!"), ("123", "45 — 6"), ("  ", "?")])
def test_no_text_is_rejected_as_empty(summary: str, description: str) -> None:
    outcome = moderate(summary, description)
    assert (outcome.verdict, outcome.code) == (Verdict.REJECT, ReasonCode.EMPTY)
    assert "не содержит текста" in (outcome.reason() or "")


@pytest.mark.parametrize(
    ("summary", "description"), [("Яма", "тут"), ("ааааа", "ааааааааааа"), ("Ужас", "!!!")]
)
def test_too_short_text_is_rejected(summary: str, description: str) -> None:
    outcome = moderate(summary, description)
    assert (outcome.verdict, outcome.code) == (Verdict.REJECT, ReasonCode.TOO_SHORT)
    assert "подробнее" in (outcome.reason() or "")


@pytest.mark.parametrize(
    ("summary", "description"),
    [
        ("Расписание", "Когда придёт автобус?"),
        ("Яма на дороге", "Глубокая яма"),
        ("Спасибо", "Спасибо врачу"),
    ],
)
def test_short_but_meaningful_text_passes(summary: str, description: str) -> None:
    assert moderate(summary, description).verdict is Verdict.ACCEPT


def test_a_repeat_of_the_same_authors_appeal_is_rejected_naming_the_first() -> None:
    outcome = moderate(SUMMARY, DESCRIPTION, repeat_of="2026-000042")
    assert (outcome.verdict, outcome.code) == (Verdict.REJECT, ReasonCode.REPEAT)
    assert "№ 2026-000042" in (outcome.reason("2026-000042") or "")
    assert moderate(SUMMARY, DESCRIPTION, repeat_of=None).verdict is Verdict.ACCEPT


def test_the_fingerprint_ignores_case_spacing_and_punctuation() -> None:
    assert fingerprint("Не горит фонарь", "Фонарь  у дома 5!") == fingerprint(
        "не горит ФОНАРЬ.", "фонарь у дома 5"
    )
    assert fingerprint("Не горит фонарь", "Фонарь у дома 5") != fingerprint(
        "Не горит фонарь", "Фонарь у дома 7"
    )
    assert fingerprint("Ёлка", "ёж") == fingerprint("Елка", "еж")


def test_several_numbered_problems_go_to_a_moderator() -> None:
    several = "Во дворе:\n1. яма у подъезда\n2. не горит фонарь\n3. не вывозят мусор"
    outcome = moderate("Проблемы двора", several)
    assert (outcome.verdict, outcome.code) == (Verdict.REVIEW, ReasonCode.SEVERAL_PROBLEMS)
    two = "Во дворе яма:\n1. у первого подъезда\n2. у второго подъезда"
    assert moderate("Яма во дворе", two).verdict is Verdict.ACCEPT


def test_link_spam_goes_to_a_moderator() -> None:
    spam = "Лучшие окна! https://okna.example.com и www.okna-deshevo.example скидки"
    assert moderate("Окна недорого", spam).code is ReasonCode.SPAM
    assert moderate(SUMMARY, f"{DESCRIPTION} Фото: https://photos.example/1").verdict is Verdict.ACCEPT


def test_every_reason_is_in_russian_for_the_citizen() -> None:
    for code in ReasonCode:
        text = REASONS[code]
        assert any("а" <= ch <= "я" for ch in text.lower()), code
        assert "{" not in text.replace("{number}", ""), code
