"""Personal data out of everything public: phone numbers, e-mail addresses, flat numbers, names.

Pure functions, no I/O. Used on what anyone may read (Open311 request lists and bodies, the
public problem zones and statistics); what an author or their organisation reads is not masked.
Rule source: 152-ФЗ «О персональных данных» (a phone, an e-mail, a flat number or a full name
identify a resident), and the platform's rule "no personal data in public outputs".

Detection is by pattern, so it errs on the side of hiding: a number that looks like a phone is
hidden even if it was a cadastral number. Names are hidden where they can be told from other
words: a full name with a patronymic («Иванов Иван Иванович», «Иван Петрович»), a surname with
initials («Иванов И. И.», «И.И. Иванов»), a name after «меня зовут» / «ФИО» / «с уважением», or
a given name beside a surname («Иван Петров», «Смирновой Анне»), told by the Russian morphological
dictionary (pymorphy3: a known given name next to a word it parses as a surname). Organisations
and streets are not names: the rules look for patronymics, initials, an introduction or that
dictionary pair, never for any capitalised word, and a pair after a street word («ул. Богдана
Хмельницкого») is a street. A published appeal's author sees what was masked
(`Masked.found`); the public never sees the original.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from libs.common.morphology import analyzer

HIDDEN = "[скрыто]"

_EMAIL = re.compile(r"[\w.+%-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
# Russian numbers: +7 / 7 / 8, then 10 digits in any grouping of spaces, dashes, dots, brackets:
# +7 (999) 123-45-67, 8-999-123-45-67, 89991234567, +7 999 1234567, 8 (4932) 12-34-56.
_SEP = r"[\s\-.‐‑–()]*"
_PHONE = re.compile(
    rf"(?<![\w+])(?:\+\s*7|8|7){_SEP}\(?\d{{3,5}}\)?{_SEP}\d{{1,3}}{_SEP}\d{{2}}{_SEP}\d{{2}}(?!\d)"
)
# Local and foreign forms: 123-45-67, 12-34-56, +375 29 123 45 67, +49 30 1234567.
_LOCAL_PHONE = re.compile(r"(?<![\w-])\d{2,3}-\d{2}-\d{2}(?![\w-])")
_INTL_PHONE = re.compile(rf"(?<![\w+])\+\s*\d{{1,3}}(?:{_SEP}\d{{2,5}}){{2,5}}(?!\d)")
_FLAT = re.compile(
    r"(?<![\w])(кв\.?|квартир[аеуы]|квартирой|кв-ра|комн\.?|комнат[аеуы]|apt\.?|apartment|flat)"
    r"(\s*№?\s*)\d+\s*[а-яa-z]?(?![\w])",
    re.IGNORECASE,
)
_WORD = r"[А-ЯЁ][а-яё]+(?:-[А-ЯЁ][а-яё]+)?"
_PATRONYMIC = r"[А-ЯЁ][а-яё]+(?:ович|евич|ьич|ична|инична|овна|евна)(?:а|у|ем|ой|е)?"
_FULL_NAME = re.compile(rf"(?:{_WORD}\s+){{1,2}}{_PATRONYMIC}(?:\s+{_WORD})?")
_INITIALS_AFTER = re.compile(rf"{_WORD}\s+[А-ЯЁ]\.\s?(?:[А-ЯЁ]\.)?")
_INITIALS_BEFORE = re.compile(rf"[А-ЯЁ]\.\s?(?:[А-ЯЁ]\.\s?)?{_WORD}")
_INTRODUCED = re.compile(
    rf"(меня зовут|ФИО:?|с уважением,?|заявитель:?|my name is)(\s+){_WORD}(?:\s+{_WORD}){{0,2}}",
    re.IGNORECASE,
)


_CAPITALISED = re.compile(rf"(?<![\w.]){_WORD}(?!\w)")
_STREET_BEFORE = re.compile(
    r"(?:ул|улиц\w*|пр|просп\w*|пер|переул\w*|пл|площад\w*|бульв\w*|б-р|наб|набережн\w*|шоссе|"
    r"проезд\w*|тупик\w*|им|имени|памятник\w*|сквер\w*|парк\w*|школ\w*|библиотек\w*)\.?\s*$",
    re.IGNORECASE,
)


def _tagged(word: str, grammeme: str, known: bool) -> bool:
    return any(grammeme in p.tag and (p.is_known or not known) for p in analyzer().parse(word))


def _person(text: str, first: re.Match[str], second: re.Match[str]) -> bool:
    """A given name (in the dictionary) beside a surname, not part of a street's or a place's name."""
    if not text[first.end() : second.start()].isspace():
        return False
    if _STREET_BEFORE.search(text[max(0, first.start() - 24) : first.start()]):
        return False
    a, b = first.group(0), second.group(0)
    return (_tagged(a, "Name", True) and _tagged(b, "Surn", False)) or (
        _tagged(a, "Surn", False) and _tagged(b, "Name", True)
    )


def _name_pairs(text: str) -> list[tuple[int, int]]:
    """Spans of «given name + surname» pairs (either order), left to right, not overlapping."""
    words, spans, i = list(_CAPITALISED.finditer(text)), [], 0
    while i + 1 < len(words):
        if _person(text, words[i], words[i + 1]):
            spans.append((words[i].start(), words[i + 1].end()))
            i += 2
        else:
            i += 1
    return spans


class MaskedKind(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    FLAT = "flat"
    NAME = "name"


@dataclass
class Masked:
    text: str
    found: list[tuple[MaskedKind, str]] = field(default_factory=list)  # (kind, original): the author's only

    @property
    def kinds(self) -> list[str]:
        return sorted({str(kind) for kind, _ in self.found})


def _hidden(_: re.Match[str]) -> str:
    return HIDDEN


def _after_its_word(match: re.Match[str]) -> str:
    """A flat or an introduction keeps its word («кв. [скрыто]», «меня зовут [скрыто]»)."""
    return f"{match.group(1)}{match.group(2) or ' '}{HIDDEN}"


# In this order: e-mails before phones (digits inside addresses); names last, initials before
# surnames first («И.И. Иванов» is not «<word> И.»). A flat and an introduction keep their word.
_RULES: list[tuple[MaskedKind, re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (MaskedKind.EMAIL, _EMAIL, _hidden),
    (MaskedKind.PHONE, _PHONE, _hidden),
    (MaskedKind.PHONE, _INTL_PHONE, _hidden),
    (MaskedKind.PHONE, _LOCAL_PHONE, _hidden),
    (MaskedKind.FLAT, _FLAT, _after_its_word),
    (MaskedKind.NAME, _INTRODUCED, _after_its_word),
    (MaskedKind.NAME, _FULL_NAME, _hidden),
    (MaskedKind.NAME, _INITIALS_BEFORE, _hidden),
    (MaskedKind.NAME, _INITIALS_AFTER, _hidden),
]


def mask(text: str | None) -> Masked:
    """`text` with phone numbers, e-mail addresses, flat numbers and detectable names replaced by
    `[скрыто]` (a flat keeps its word: «кв. [скрыто]»), and what was replaced. Idempotent."""
    result = Masked(text or "")
    for kind, pattern, replacement in _RULES:

        def replace(
            match: re.Match[str],
            kind: MaskedKind = kind,
            pattern: re.Pattern[str] = pattern,
            replacement: Callable[[re.Match[str]], str] = replacement,
        ) -> str:
            kept = match.end(2) - match.start() if pattern is _INTRODUCED else 0  # the name only
            result.found.append((kind, match.group(0)[kept:]))
            return replacement(match)

        result.text = pattern.sub(replace, result.text)
    pairs = _name_pairs(result.text)
    result.found += [(MaskedKind.NAME, result.text[start:end]) for start, end in pairs]
    for start, end in reversed(pairs):
        result.text = result.text[:start] + HIDDEN + result.text[end:]
    return result


def mask_text(text: str) -> str:
    """`mask(text).text`: what anyone may read."""
    return mask(text).text


# Keys whose values are identifiers or codes, never free text: left as they are.
_KEEP = frozenset({"id", "code", "service_code", "service_request_id", "topic", "status", "timezone"})


def mask_public(value: Any, key: str | None = None) -> Any:
    """Every string in a JSON-like structure masked with `mask_text`, except identifiers and
    codes (`_KEEP`); returns a new structure."""
    if isinstance(value, str):
        return value if key in _KEEP else mask_text(value)
    if isinstance(value, Mapping):
        return {name: mask_public(item, str(name)) for name, item in value.items()}
    if isinstance(value, list | tuple):
        return [mask_public(item, key) for item in value]
    return value
