"""Russian noun phrases in the case a text needs: «направлено в Администрацию города», not «в
Администрация города». Organisation names are stored as written (nominative, the catalogue's
`name`); a Russian template asks for another case with a format spec, `{organization:accs}`.

Morphology is pymorphy3's (OpenCorpora dictionaries), the process's one analyzer
(libs/common/morphology.py).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from libs.common.morphology import analyzer

# pymorphy3's grammemes for the six cases: nominative, genitive, dative, accusative, instrumental,
# prepositional.
CASES = frozenset({"nomn", "gent", "datv", "accs", "ablt", "loct"})
_AGREEING = frozenset({"ADJF", "PRTF"})  # full adjectives and participles before the head noun


def _nominative(word: str) -> Any | None:
    """The likeliest nominative parse of `word` as a noun, adjective or participle; None if none."""
    for parse in analyzer().parse(word):  # most likely first
        if parse.tag.case == "nomn" and parse.tag.POS in (_AGREEING | {"NOUN"}):
            return parse
    return None


def _styled_as(original: str, form: str) -> str:
    if original.isupper() and len(original) > 1:
        return form.upper()
    return form[:1].upper() + form[1:] if original[:1].isupper() else form


@lru_cache(maxsize=4096)
def inflect(phrase: str, case: str) -> str:
    """`phrase` (a name in the nominative) with its head in `case` (one of `CASES`): the leading
    adjectives and participles and the first noun change; what follows (genitive complements,
    a name in quotes) stays as written. A phrase whose first words are not a nominative noun
    group (an abbreviation such as «ГКУ», a word the dictionary does not know) is returned as
    written. Raises ValueError for a case outside `CASES`."""
    if case not in CASES:
        raise ValueError(f"unknown case {case!r}; one of {sorted(CASES)}")
    words = phrase.split(" ")
    changed: list[str] = []
    for word in words:
        parse = _nominative(word)
        form = parse.inflect({case}) if parse is not None else None
        if parse is None or form is None:
            return phrase
        changed.append(_styled_as(word, form.word))
        if parse.tag.POS == "NOUN":
            return " ".join([*changed, *words[len(changed) :]])
    return phrase


async def load() -> None:
    """Load the dictionary before the first message needs it (a startup hook: ~0.5 s of CPU that
    would otherwise stall the first handler's event loop)."""
    analyzer()


class Phrase(str):
    """A text field a template may ask for in a case: `{organization:accs}`; `{organization}` is the
    text as given. Raises ValueError (from `inflect`) for an unknown format spec."""

    __slots__ = ()

    def __format__(self, spec: str) -> str:
        return inflect(str(self), spec) if spec else str(self)
