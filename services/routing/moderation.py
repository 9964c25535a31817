"""Moderation before routing: what the seeds ask of a message. Pure functions, no I/O.

"Without obscene language" and "one message — one problem": an appeal is rejected when it has no
text, is too short to act on, contains obscene words (Russian mat, English, transliterated), or
repeats the same author's earlier appeal; borderline cases (rude but not obscene, several numbered
problems, link spam) wait for a moderator. Obfuscation is seen through by comparing every word's
skeletons: Latin look-alikes and digits read as Cyrillic (`xyй`, `6ля`) and the reverse for English
(`f0ck`), repeated letters collapsed (`бляяять`), separators removed (`х.у.й`, `f u c k`), masks
matched against known words (`бл*ть`). Every check reads the text through
`libs.common.text.for_checks` first (NFKC, invisible characters removed, mixed-script words folded,
case kept for the skeletons), so `ху\u200bй`, `ｆｕｃｋ` and `хyй` are the words they look like. Reasons are in Russian,
for the citizen.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from libs.common.text import for_checks


class Verdict(StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"
    REVIEW = "review"  # a moderator decides


class ReasonCode(StrEnum):
    EMPTY = "empty"
    TOO_SHORT = "too_short"
    PROFANITY = "profanity"
    REPEAT = "repeat"
    RUDE = "rude"
    SEVERAL_PROBLEMS = "several_problems"
    SPAM = "spam"
    NOT_AN_APPEAL = "not_an_appeal"


REASONS: dict[ReasonCode, str] = {
    ReasonCode.EMPTY: "Обращение не содержит текста. Опишите, что случилось и где, и отправьте его снова.",
    ReasonCode.TOO_SHORT: (
        "Обращение слишком короткое. Опишите проблему подробнее: что случилось, где и с какого времени, "
        "чтобы ответственная организация могла разобраться."
    ),
    ReasonCode.PROFANITY: (
        "Обращение содержит нецензурную лексику. Пожалуйста, опишите проблему без таких выражений "
        "и отправьте обращение снова."
    ),
    ReasonCode.REPEAT: (
        "Такое же обращение от вас уже зарегистрировано (№ {number}) и рассматривается. "
        "Повторно отправлять его не нужно: ответ придёт по первому обращению."
    ),
    ReasonCode.RUDE: (
        "Обращение содержит грубые или оскорбительные выражения. Пожалуйста, переформулируйте его "
        "и отправьте снова."
    ),
    ReasonCode.SEVERAL_PROBLEMS: (
        "В одном обращении нужно описывать одну проблему. Отправьте, пожалуйста, каждую проблему "
        "отдельным обращением: так каждая попадёт к организации, которая за неё отвечает."
    ),
    ReasonCode.SPAM: "Обращение похоже на рекламу или рассылку и не может быть рассмотрено.",
    ReasonCode.NOT_AN_APPEAL: (
        "В сообщении нет вопроса, жалобы или предложения, которые может рассмотреть орган власти "
        "или организация."
    ),
}


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    code: ReasonCode | None = None
    rule: str | None = None  # which check decided: for moderators and metrics, never the words

    def reason(self, repeat_of: str | None = None) -> str | None:
        if self.code is None:
            return None
        return REASONS[self.code].format(number=repeat_of or "—")


ACCEPTED = Outcome(Verdict.ACCEPT)

# -- skeletons ------------------------------------------------------------------------------

_TO_CYRILLIC = str.maketrans(
    {
        "a": "а", "B": "в", "b": "б", "c": "с", "d": "д", "e": "е", "f": "ф", "g": "г", "H": "н",
        "h": "н", "i": "и", "k": "к", "l": "л", "m": "м", "n": "п", "o": "о", "p": "р", "r": "г",
        "s": "с", "t": "т", "u": "и", "v": "в", "x": "х", "y": "у", "z": "з", "0": "о", "3": "з",
        "4": "ч", "6": "б", "9": "я", "1": "и", "@": "а", "ё": "е", "Ё": "е", "і": "и", "ї": "и",
    }
)  # fmt: skip
_TO_LATIN = str.maketrans(
    {
        "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
        "с": "c", "т": "t", "у": "y", "х": "x", "и": "u", "п": "n", "0": "o", "1": "i", "3": "e",
        "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i", "|": "i",
    }
)  # fmt: skip
_LETTER = r"[^\W_]"
_SPACED = re.compile(r"(?<![\w@$])(?:[\w@$][ \t.\-_,+|/\\~'\"`]+){2,}[\w@$](?![\w@$])")
_INNER_SEPARATORS = re.compile(rf"(?<={_LETTER})[.\-_|+~'\"`]+(?={_LETTER})")
_TOKEN = re.compile(r"[\w@$]+(?:[!|][\w@$]+)*")
_MASKED = re.compile(r"[\w@$]*[*#]+[\w@$*#]*")
_REPEATS = re.compile(r"(.)\1+")


def _collapse(text: str) -> str:
    return _REPEATS.sub(r"\1", text)


def cyrillic_skeleton(token: str) -> str:
    return _collapse(token.translate(_TO_CYRILLIC).lower().translate(_TO_CYRILLIC).replace("_", ""))


def latin_skeleton(token: str) -> str:
    return _collapse(token.lower().translate(_TO_LATIN).replace("_", ""))


# -- vocabularies (matched against collapsed skeletons, so no doubled letters) -----------------

_RU_PREFIX = r"(?:на|по|ни|за|от|о|до|вы|при|про|раз|рас|под|у|с|об|недо|пере)?"
_EB_PREFIX = (
    r"(?:за|на|по|вы|у|от|ото|отъ|оть|до|раз|разъ|рас|съ|сь|въ|взъ|подъ|объ|об|при|про|недо|из|изъ|долбо)?"
)
RU_OBSCENE = [
    re.compile(rf"^{_RU_PREFIX}ху(?:[йеяю]|и(?!ст)|ли(?!г))"),
    re.compile(r"п[ие]зд"),
    re.compile(r"^(?:вы)?бля(?:$|д|т)"),
    re.compile(rf"^{_EB_PREFIX}еб(?!ург)(?:$|а|у|л|н|и|е|ы|ш|о|ч|ц)"),
    re.compile(r"^муд(?:ак|ил|ач|озвон)"),
    re.compile(r"^пид(?:о|а)?р"),
    re.compile(r"^залуп"),
    re.compile(r"^манд(?:а|ы|е|у|ой|авош\w*)$"),
    re.compile(r"^г[ао]ндон"),
    re.compile(r"^(?:сука|суки|суку|сукой|сучка|сучара)$"),
]
RU_RUDE = [
    re.compile(r"^(?:на|по)?хер(?:$|а|ом|ня|ню|ов)"),
    re.compile(r"^(?:за)?говн"),
    re.compile(r"^дерьм"),
    re.compile(r"^жоп"),
    re.compile(r"^(?:за|об|на|ни)?сра(?:ть|л|н)"),
    re.compile(r"^(?:мраз|ублюд|сволоч|дебил|идиот|придур|шлюх)"),
    re.compile(r"^твар(?:ь|и|ей)$"),
    re.compile(r"^урод(?:ы|ов|ам|ина|ец)?$"),
]
EN_OBSCENE = [
    re.compile(r"(?:fuck|phuck|fcuk)"),
    re.compile(r"^(?:fck|fuk(?:$|ing|ed|er))"),
    re.compile(r"shit(?!ak)"),
    re.compile(r"^(?:bitch|cunt|whore|slut|motherf|dickhead|nig(?:er|a)s?$|fag(?:ot)?s?$)"),
    re.compile(r"^(?:as|arse)hole"),
    # Russian mat in Latin transliteration
    re.compile(r"^(?:na|po|ni)(?:x|h|kh)u[yij]"),
    re.compile(r"^(?:x|kh)u[yij]$|^huy$|^huj$"),
    re.compile(r"p[ie]zd"),
    re.compile(r"^bl[yi]a(?:$|t|d)"),
    re.compile(r"^(?:za|na|po|vy|u|ot|raz|do|pro)?y?eb(?:at|al|an|u$|lo|nu)"),
    re.compile(r"^(?:suka|suki|mudak|pidor|pidar|gandon)$"),
]
EN_RUDE = [re.compile(r"^(?:bastard|crap|damn|idiot|moron)s?$")]
MASK_TARGETS_RU = (
    "хуй", "хуя", "хуйня", "нахуй", "пизда", "пиздец", "блять", "блядь", "бля", "ебать", "ебал", "ебаный",
    "сука", "мудак", "пидор",
)  # fmt: skip
MASK_TARGETS_EN = ("fuck", "fucking", "shit", "bitch", "cunt", "asshole")

_LIST_ITEM = re.compile(r"^\s*(?:\d{1,2}[.)]|[-•*—])\s+\S", re.MULTILINE)
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)


def _any(patterns: list[re.Pattern[str]]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p.pattern})" for p in patterns))


_RU_OBSCENE, _RU_RUDE, _EN_OBSCENE, _EN_RUDE = map(_any, (RU_OBSCENE, RU_RUDE, EN_OBSCENE, EN_RUDE))


@lru_cache(maxsize=65536)
def word_class(token: str) -> str | None:
    """'obscene', 'rude' or None for one word (cached: appeals share most of their vocabulary)."""
    cyr, lat = cyrillic_skeleton(token), latin_skeleton(token)
    if _RU_OBSCENE.search(cyr) or _EN_OBSCENE.search(lat):
        return "obscene"
    if _RU_RUDE.search(cyr) or _EN_RUDE.search(lat):
        return "rude"
    return None


def _masked_obscene(text: str) -> bool:
    """`бл*ть`, `f**k`, `х#й`: a mask stands for one to three letters of a known word."""
    for token in _MASKED.findall(text):
        if sum(ch.isalpha() for ch in token) < 2:
            continue
        parts = re.split(r"[*#]+", token)
        for skeleton, targets in ((cyrillic_skeleton, MASK_TARGETS_RU), (latin_skeleton, MASK_TARGETS_EN)):
            pattern = re.compile("^" + ".{1,3}".join(re.escape(skeleton(part)) for part in parts) + "$")
            if any(pattern.match(_collapse(target)) for target in targets):
                return True
    return False


def words(text: str) -> list[str]:
    """Tokens after undoing separators: `х у й`, `f.u.c.k`, `пиз-да` become one word each."""
    joined = _SPACED.sub(lambda m: re.sub(r"[^\w@$]", "", m.group(0)), text)
    joined = _INNER_SEPARATORS.sub("", joined)
    return _TOKEN.findall(joined)


def vocabulary(text: str) -> str | None:
    """'obscene', 'rude' or None for the words of a text (normalised here: any text may be given)."""
    text = for_checks(text, casefold=False)  # the skeletons read `B` as `в`, `b` as `б`
    if _masked_obscene(text.lower()):
        return "obscene"
    found = {word_class(token) for token in words(text) if any(ch.isalpha() for ch in token)}
    return "obscene" if "obscene" in found else "rude" if "rude" in found else None


def fingerprint(summary: str, description: str) -> str:
    """The same text, whatever the case, spacing, punctuation, invisible characters or look-alike
    letters: spam repeats are found by this. Returns a SHA-256 hex digest."""
    text = for_checks(f"{summary}\n{description}").replace("ё", "е")
    normal = " ".join(re.findall(r"\w+", text))
    return hashlib.sha256(normal.encode()).hexdigest()


def moderate(
    summary: str,
    description: str,
    *,
    repeat_of: str | None = None,
    min_letters: int = 8,
    min_words: int = 2,
) -> Outcome:
    """Decide on an appeal's text. `repeat_of`: the number of the author's same earlier appeal.

    The text is compared in its `for_checks` form; the citizen's own text is never changed here."""
    summary, description = for_checks(summary, casefold=False), for_checks(description, casefold=False)
    text = f"{summary}\n{description}"
    if not any(ch.isalpha() for ch in description) and not any(ch.isalpha() for ch in summary):
        return Outcome(Verdict.REJECT, ReasonCode.EMPTY, "empty")
    letters = _collapse("".join(ch for ch in text.lower() if ch.isalpha()))
    real_words = [w for w in re.findall(r"[^\W\d_]{2,}", text)]
    if len(letters) < min_letters or len(real_words) < min_words:
        return Outcome(Verdict.REJECT, ReasonCode.TOO_SHORT, "too_short")
    found = vocabulary(text)
    if found == "obscene":
        return Outcome(Verdict.REJECT, ReasonCode.PROFANITY, "profanity")
    if repeat_of is not None:
        return Outcome(Verdict.REJECT, ReasonCode.REPEAT, "repeat")
    if found == "rude":
        return Outcome(Verdict.REVIEW, ReasonCode.RUDE, "rude")
    if len(_LIST_ITEM.findall(description)) >= 3:
        return Outcome(Verdict.REVIEW, ReasonCode.SEVERAL_PROBLEMS, "several_problems")
    if len(_URL.findall(text)) >= 2:
        return Outcome(Verdict.REVIEW, ReasonCode.SPAM, "links")
    return ACCEPTED
