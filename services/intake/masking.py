"""Personal data masked out of an appeal the author allowed to be published. Pure, no I/O.

What is masked (each replaced by `MASK`): e-mail addresses; phone numbers (6–15 digits with the
usual separators, `+7`/`8` prefixes); flat and room numbers ("кв. 12", "квартира 5а", "комн. 3",
"apt. 4", "flat 7"); people's names written the ways Russian letters name people: full names with
a patronymic in either order ("Иванов Иван Иванович", "Иван Иванович Иванов"), a first name with
a patronymic ("Мария Петровна"), a surname with initials ("Иванов И. И.", "И.И. Иванов"), and the
name after "меня зовут" / "my name is". An organisation's or a street's name is not a person's:
the rules look for patronymics, initials or an introduction, never for any capitalised word.

The rules are deliberately on the side of masking too much; the author sees what was masked
(`Masked.found`) and the public never sees the original.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

MASK = "***"
_UP, _LOW = "А-ЯЁ", "а-яё"
_WORD = rf"[{_UP}][{_LOW}]+(?:-[{_UP}][{_LOW}]+)?"
_PATRONYMIC = rf"[{_UP}][{_LOW}]+(?:ович|евич|ьич|ична|инична|овна|евна)"
_INITIALS = rf"[{_UP}]\.(?:\s?[{_UP}]\.)?"


class MaskedKind(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    FLAT = "flat"
    NAME = "name"


# Order matters: e-mails before phones (digits inside addresses), names last.
RULES: list[tuple[MaskedKind, re.Pattern[str]]] = [
    (MaskedKind.EMAIL, re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)),
    (MaskedKind.PHONE, re.compile(r"(?<![\w])(?:\+\s?\d|\(?\d)(?:[\s\-()]*\d){5,14}(?![\w])")),
    (
        MaskedKind.FLAT,
        re.compile(
            r"(?<![\w])(?:кв(?:артир[аеуы])?|комн(?:ат[аеуы])?|apt|apartment|flat|room)\.?\s*№?\s*\d+\s?[а-яa-z]?(?![\w])",
            re.IGNORECASE,
        ),
    ),
    (
        MaskedKind.NAME,
        re.compile(
            rf"(?:{_WORD}\s+{_WORD}\s+{_PATRONYMIC}|{_WORD}\s+{_PATRONYMIC}(?:\s+{_WORD})?"
            rf"|{_WORD}\s+{_INITIALS}|{_INITIALS}\s?{_WORD})"
        ),
    ),
    (
        MaskedKind.NAME,
        re.compile(
            rf"(?<=меня зовут )(?:{_WORD})(?:\s+{_WORD})?|(?<=my name is )[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?",
            re.IGNORECASE,
        ),
    ),
]


@dataclass
class Masked:
    text: str
    found: list[tuple[MaskedKind, str]] = field(default_factory=list)  # (kind, original): the author's only

    @property
    def kinds(self) -> list[str]:
        return sorted({str(kind) for kind, _ in self.found})


def mask(text: str | None) -> Masked:
    """`text` with every piece of personal data the rules find replaced by `MASK`."""
    result = Masked(text or "")
    for kind, pattern in RULES:

        def replace(match: re.Match[str], kind: MaskedKind = kind) -> str:
            result.found.append((kind, match.group(0)))
            return MASK

        result.text = pattern.sub(replace, result.text)
    return result
