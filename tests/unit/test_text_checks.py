"""Text normalisation before every text check (issue #13 item 7): moderation, the repeat filter,
address matching. Invisible characters, look-alike letters and full-width forms change nothing."""

from __future__ import annotations

import unicodedata
from datetime import timedelta

import pytest

from libs.common.text import for_checks, for_storage
from services.routing.geo import normalize_address
from services.routing.moderation import ReasonCode, Verdict, fingerprint, moderate
from tests.unit.test_routing_flows import TEXT, harness

INVISIBLE = {
    "zero width space": "\u200b",
    "soft hyphen": "\u00ad",
    "word joiner": "\u2060",
    "BOM": "\ufeff",
    "zero width non-joiner": "\u200c",
    "zero width joiner": "\u200d",
    "left-to-right mark": "\u200e",
    "right-to-left override": "\u202e",
    "invisible times": "\u2062",
    "first strong isolate": "\u2068",
    "Hangul filler": "\u3164",
    "combining grapheme joiner": "\u034f",
    "variation selector": "\ufe0f",
}
OBSCENE = ["хуй", "пизда", "блядь", "ебать", "мудак", "fuck", "shit", "сука"]
SUMMARY = "Не горит фонарь"


def inside(word: str, char: str) -> str:
    return word[:1] + char + word[1:-1] + char + word[-1:]


@pytest.mark.parametrize("word", OBSCENE)
@pytest.mark.parametrize("char", INVISIBLE.values(), ids=INVISIBLE.keys())
def test_an_obscene_word_with_invisible_characters_inside_is_rejected(word: str, char: str) -> None:
    outcome = moderate(SUMMARY, f"Опять {inside(word, char)} у подъезда, сколько можно терпеть")
    assert outcome.verdict is Verdict.REJECT and outcome.code is ReasonCode.PROFANITY


LOOK_ALIKES = [
    "xуй",  # Latin x
    "хyй",  # Latin y
    "пиздa",  # Latin a
    "еbать",  # Latin b for б
    "cукa",  # Latin c and a
    "мудaк",
    "fuсk",  # Cyrillic с in a Latin word
    "ѕhit",  # Cyrillic dze
    "Εбать",  # Greek capital epsilon
    "ПИЗДΑ",  # Greek capital alpha
]


@pytest.mark.parametrize("word", LOOK_ALIKES)
def test_an_obscene_word_in_mixed_look_alike_letters_is_rejected(word: str) -> None:
    outcome = moderate(SUMMARY, f"Опять {word} у подъезда, сколько можно терпеть")
    assert outcome.code is ReasonCode.PROFANITY, word


def full_width(word: str) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in word)


@pytest.mark.parametrize("word", ["fuck", "shit", "FUCK", "blyat", "suka"])
def test_an_obscene_word_in_full_width_or_styled_letters_is_rejected(word: str) -> None:
    for styled in (full_width(word), "".join(chr(0x1D5EE + ord(ch) - ord("a")) for ch in word.lower())):
        assert unicodedata.normalize("NFKC", styled).lower() == word.lower()
        outcome = moderate(SUMMARY, f"Опять {styled} у подъезда, сколько можно терпеть")
        assert outcome.code is ReasonCode.PROFANITY, styled


@pytest.mark.parametrize("char", INVISIBLE.values(), ids=INVISIBLE.keys())
def test_ordinary_texts_with_invisible_characters_still_pass(char: str) -> None:
    text = f"Фонарь у до{char}ма 5 на ули{char}це Ленина не горит вторую неделю, вечером темно."
    assert moderate(SUMMARY, text).verdict is Verdict.ACCEPT


def test_several_problems_and_links_are_still_seen_through_invisible_characters() -> None:
    listed = "Во дворе:\u200b\n1.\u200b яма\n\u20602. мусор\n\ufeff3. нет света у подъезда"
    assert moderate(SUMMARY, listed).code is ReasonCode.SEVERAL_PROBLEMS
    links = "Смотрите ｈｔｔｐｓ://spam.example и www.\u200bspam.example"
    assert moderate(SUMMARY, links).code is ReasonCode.SPAM


VARIANTS = {
    "a zero width space": (TEXT[0], TEXT[1].replace("Ленина", "Ле\u200bнина")),
    "a soft hyphen": (TEXT[0].replace("фонарь", "фо\u00adнарь"), TEXT[1]),
    "a BOM in front": ("\ufeff" + TEXT[0], TEXT[1]),
    "Latin look-alikes": (TEXT[0].replace("о", "o"), TEXT[1].replace("а", "a")),
    "full-width digits": (TEXT[0], TEXT[1].replace("5", "５")),
    "doubled spaces and non-breaking spaces": (TEXT[0].replace(" ", "\u00a0 "), TEXT[1]),
    "case": (TEXT[0].upper(), TEXT[1]),
}


@pytest.mark.parametrize("variant", VARIANTS.values(), ids=VARIANTS.keys())
def test_the_fingerprint_ignores_what_a_reader_cannot_see(variant: tuple[str, str]) -> None:
    assert fingerprint(*variant) == fingerprint(*TEXT)


def test_different_texts_keep_different_fingerprints() -> None:
    assert fingerprint(TEXT[0], TEXT[1].replace("5", "6")) != fingerprint(*TEXT)
    assert fingerprint("cop", "сор") != fingerprint("cup", "сор")


@pytest.mark.parametrize("variant", VARIANTS.values(), ids=VARIANTS.keys())
async def test_the_24h_repeat_filter_catches_the_same_text_with_one_invisible_change(
    variant: tuple[str, str],
) -> None:
    h = await harness(spam_window_minutes=24 * 60)
    first = await h.submit(h.submitted())
    assert first["status"] == "routed"
    h.clock.advance(timedelta(hours=3))
    repeat = await h.submit(h.submitted(text=variant))
    assert repeat["status"] == "rejected" and repeat["rejection"]["code"] == "repeat"
    assert first["number"] in repeat["rejection"]["reason"]


def test_address_matching_reads_through_invisible_and_look_alike_letters() -> None:
    assert normalize_address("Ле\u200bнинский р-н") == normalize_address("ЛЕНИНСКИЙ р-н")
    assert normalize_address("Лeнинский") == normalize_address("ленинский")  # Latin e


def test_for_checks_steps() -> None:
    assert for_checks("ｆｕ\u200bｃｋ") == "fuck"
    assert for_checks("  Яма\t\u00a0 во\n\n\n дворе ") == "яма во\nдворе"
    assert for_checks("хyй и fuсk") == "хуй и fuck"
    assert for_checks("OK, ул. Ленина") == "ок, ул. ленина"  # look-alike words in a Russian text
    assert for_checks("Scunthorpe and Dickens") == "scunthorpe and dickens"  # English stays English


def test_the_stored_text_keeps_what_the_citizen_wrote_but_invisible_characters() -> None:
    written = "Лифт\u200b не работает \u202eвторой день\u202c 😀\ufe0f 👨\u200d👩\u200d👧 ﬁ ５"
    assert for_storage(written) == "Лифт не работает второй день 😀\ufe0f 👨\u200d👩\u200d👧 ﬁ ５"
    assert for_storage("строка\x00\x07 и\tтаб\r\n") == "строка и\tтаб\r\n"
