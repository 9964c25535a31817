"""Text as compared by checks (moderation, the repeat filter, address matching), and text as stored.

`for_checks` is the one normalisation every comparison of citizens' texts goes through, so that
what looks the same to a reader compares the same to a check:

1. Unicode NFKC (UAX #15): full-width `ｆｕｃｋ`, ligatures, superscripts become plain letters.
2. Format characters removed (general category Cf: U+200B..U+200F, U+2060..U+2064, U+FEFF, the
   soft hyphen U+00AD, bidi embeddings/overrides/isolates), and the other invisible fillers
   (U+034F, U+115F/U+1160, U+3164, U+FFA0, variation selectors), so `ху\u200bй` reads `хуй`.
3. Confusables folded, word by word: a word written in two scripts (`хyй`, `fuсk`) is folded
   into its majority script (a tie: Cyrillic), and in a mostly Cyrillic text a Latin word made
   only of Cyrillic look-alikes (`cop` for `сор`) becomes Cyrillic. Which letters look alike is
   Unicode's own table (UTS #39 confusables.txt) as shipped by `confusable_homoglyphs`, limited to
   the letters of the Russian alphabet on one side and basic Latin on the other. `unidecode` and
   `anyascii` are not right here: they transliterate Cyrillic (`иван` → `ivan`), which destroys
   the Russian words the checks look for, and they do nothing for look-alikes.
4. Case folded (`str.casefold`), whitespace runs collapsed to one space (line breaks kept, one per
   run: "one message — one problem" counts list lines).

`for_storage` is what the door keeps of a citizen's text: exactly what was written except the
characters that have no meaning in a message and can only hide or reorder it (C0/C1 controls
other than tab and line breaks, bidi controls, zero-width spaces, BOMs, soft hyphens). ZWJ and
ZWNJ (U+200C/U+200D) and variation selectors stay: emoji sequences and some scripts need them.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import regex
from confusable_homoglyphs import categories, confusables

# Removed for checks: every format character (Cf), controls but tab and line breaks, the invisible
# fillers that are not Cf (grapheme joiner, Hangul fillers, braille blank), variation selectors.
_INVISIBLE_CHARS = r"\p{Cf}\p{Cc}\u034f\u115f\u1160\u3164\uffa0\u2800\ufe00-\ufe0f\U000e0100-\U000e01ef"
_INVISIBLE = regex.compile(rf"[[{_INVISIBLE_CHARS}]--[\t\n\r]]", regex.V1)
# Kept at the door: ZWNJ/ZWJ (emoji sequences, Persian and Indic orthography), variation selectors.
_INVISIBLE_STORED = regex.compile(
    rf"[[{_INVISIBLE_CHARS}]--[\t\n\r\u200c\u200d\ufe00-\ufe0f\U000e0100-\U000e01ef]]", regex.V1
)
_HORIZONTAL_SPACE = re.compile(r"[^\S\n]+")
_LINE_BREAKS = re.compile(r"\s*\n\s*")
_WORD = re.compile(r"[^\W\d_]+")
_CYRILLIC = re.compile("[\u0400-\u052f]")
_ASCII_LETTER = re.compile("[A-Za-z]")
_GREEK = re.compile("[\u0370-\u03ff]")

_RUSSIAN = frozenset("абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ")
_BASIC_LATIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


@lru_cache(maxsize=1)
def _tables() -> tuple[dict[int, str], dict[int, str]]:
    """(Latin → Cyrillic, Cyrillic → Latin) look-alikes from Unicode's confusables table."""
    to_cyrillic: dict[int, str] = {}
    to_latin: dict[int, str] = {}
    # Latin letters, Russian letters, and the other Cyrillic letters that exist mainly as
    # disguises of Latin ones here (і ј ѕ ԁ ԛ ԝ ӏ): those fold to Latin only.
    others = {chr(c) for c in range(0x0400, 0x0530) if chr(c).isalpha() and chr(c) not in _RUSSIAN}
    for ch in sorted(_BASIC_LATIN | _RUSSIAN | others):
        found = confusables.is_confusable(ch, greedy=True) or []
        glyphs = [h["c"] for entry in found for h in entry["homoglyphs"] if len(h["c"]) == 1]
        wanted = _RUSSIAN if ch in _BASIC_LATIN else _BASIC_LATIN  # others: to Latin only
        # Same case only: Unicode pairs `b` with the capital soft sign `Ь`, which is no disguise
        # of a lower-case word (and moderation reads `b` as `б`).
        matches = [g for g in glyphs if g in wanted and g.islower() == ch.islower()]
        if matches:
            (to_cyrillic if ch in _BASIC_LATIN else to_latin)[ord(ch)] = matches[0]
    # Greek look-alikes (ο, α, ρ) have Latin prototypes in the table: fold them through Latin.
    for code in range(0x0391, 0x03CA):
        ch = chr(code)
        if categories.alias(ch) != "GREEK":
            continue
        found = confusables.is_confusable(ch, greedy=True) or []
        latin = [h["c"] for entry in found for h in entry["homoglyphs"] if h["c"] in _BASIC_LATIN]
        if latin and ord(latin[0]) in to_cyrillic:
            to_cyrillic[code] = to_cyrillic[ord(latin[0])]
            to_latin[code] = latin[0]
    return to_cyrillic, to_latin


def strip_invisible(text: str, *, keep_joiners: bool = False) -> str:
    """Without format characters (Cf), invisible fillers and controls other than \\t \\n \\r.

    keep_joiners: keep ZWJ/ZWNJ and variation selectors (what the door stores)."""
    return str((_INVISIBLE_STORED if keep_joiners else _INVISIBLE).sub("", text))


def fold_confusables(text: str) -> str:
    """Mixed-script words folded into their majority script; see the module docstring."""
    to_cyrillic, to_latin = _tables()
    cyrillic, latin = len(_CYRILLIC.findall(text)), len(_ASCII_LETTER.findall(text))
    if not (cyrillic and latin) and not _GREEK.search(text):
        return text  # one script only (most texts): no word can be mixed or disguised
    mostly_cyrillic = cyrillic > latin

    def fold(match: re.Match[str]) -> str:
        """The word in its majority script (all-look-alike Latin words in a mostly Cyrillic text to
        Cyrillic)."""
        word = match.group(0)
        cyrillic = 0 if word.isascii() else len(_CYRILLIC.findall(word))
        if cyrillic == len(word):
            return word
        if not cyrillic:  # Latin (or Greek): folded only if it is all Cyrillic look-alikes
            if mostly_cyrillic and all(ord(ch) in to_cyrillic for ch in word):
                return word.translate(to_cyrillic)
            return word if word.isascii() else word.translate(to_latin)
        # Mixed (Latin, Greek or other look-alikes among Cyrillic letters): the majority wins.
        return word.translate(to_cyrillic if cyrillic >= len(word) - cyrillic else to_latin)

    return _WORD.sub(fold, text)


def for_checks(text: str, *, casefold: bool = True) -> str:
    """The form every text comparison uses (moderation, repeat filter, address matching).

    Never stored nor shown: str → str, NFKC + invisible stripped + confusables folded + casefold
    + whitespace collapsed (line breaks kept). Rules: UAX #15, UTS #39 (confusables.txt).
    casefold=False: for a check that reads case itself (moderation's skeletons tell `B` from `b`)."""
    text = fold_confusables(strip_invisible(unicodedata.normalize("NFKC", text)))
    text = text.casefold() if casefold else text
    text = _HORIZONTAL_SPACE.sub(" ", text)
    return _LINE_BREAKS.sub("\n", text).strip()


def for_storage(text: str) -> str:
    """A citizen's text as the door keeps it: as written, less what only hides or reorders it."""
    return strip_invisible(text, keep_joiners=True)
