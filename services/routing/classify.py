"""Classifying a raw social-media post: the topic from keywords, the place from the geotag or the
region's gazetteer. Pure (no I/O); the dictionary of pymorphy3 is loaded once per process.

Words are compared by lemma, with Russian morphology (pymorphy3 and its OpenCorpora dictionary,
`pymorphy3-dicts-ru`): a word matches a keyword when the sets of their possible normal forms meet,
so «ямы», «яму», «ямой» all match «яма» even where the most likely parse of «ямы» is another word.
A keyword or name of several words matches those words in a row.

Confident (routed at once) = a topic whose score (keywords found) is at least `min_score` and
higher than any other topic's, **and** a concrete place: a geotag inside the region, or a street
of the gazetteer (in the settlement the post names, or the only settlement that has such a
street). A settlement alone («все дороги в Абазе ужасные») is not concrete. Anything else goes to
the regional control centre's triage queue with what was found as a proposal.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from libs.common.morphology import analyzer
from libs.common.text import for_checks
from services.routing.schemas import GazetteerPlace, PlaceKind
from services.routing.service import CompiledCatalogue

Lemmas = frozenset[str]
Phrase = tuple[Lemmas, ...]

WORD = re.compile(r"[a-zа-яё0-9]+", re.IGNORECASE)
# Words that say the next (or previous) word names a street; «на Ленина» is how people write it.
STREET_MARKERS = frozenset(
    {"улица", "ул", "проспект", "пр", "переулок", "пер", "бульвар", "б-р", "шоссе", "набережная", "на"}
)
GENERIC_STREET_WORDS = frozenset({"улица", "проспект", "переулок", "бульвар", "шоссе"})


@functools.lru_cache(maxsize=65536)
def lemmas(word: str) -> Lemmas:
    """Every normal form pymorphy3 gives the word (lower case, «ё» as «е»), and the word itself."""
    word = word.casefold().replace("ё", "е")
    forms = {parse.normal_form.replace("ё", "е") for parse in analyzer().parse(word)}
    return frozenset(forms | {word})


def tokens(text: str) -> list[str]:
    return WORD.findall(for_checks(text))


def phrase(text: str) -> Phrase:
    return tuple(lemmas(word) for word in tokens(text))


def find(words: Sequence[Lemmas], wanted: Phrase) -> list[int]:
    """Positions where the phrase starts in the post's words."""
    n = len(wanted)
    if not n:
        return []
    return [i for i in range(len(words) - n + 1) if all(words[i + k] & wanted[k] for k in range(n))]


@dataclass(frozen=True)
class ProposedPlace:
    place_id: str | None
    address: str | None
    lat: float | None
    lon: float | None
    area_id: str | None
    located_by: str  # geotag | gazetteer:street | gazetteer:settlement | none
    concrete: bool


@dataclass(frozen=True)
class Classification:
    topic: str | None
    score: int
    runner_up: int
    matched: tuple[str, ...]
    place: ProposedPlace
    confident: bool
    why: str  # for the control centre: why it is in the queue ("" when confident)
    scores: dict[str, int] = field(default_factory=dict)

    def as_document(self) -> dict[str, object]:
        return {
            "topic": self.topic,
            "score": self.score,
            "runner_up": self.runner_up,
            "matched": list(self.matched),
            "place": self.place.__dict__,
            "confident": self.confident,
            "why": self.why,
        }


NOWHERE = ProposedPlace(None, None, None, None, None, "none", False)


class Classifier:
    """Topics' keywords and the gazetteer of one catalogue version, as lemma phrases."""

    def __init__(self, cc: CompiledCatalogue) -> None:
        self._cc = cc
        self._keywords = {
            topic.code: [(keyword, phrase(keyword)) for keyword in topic.keywords]
            for topic in cc.catalogue.topics
            if topic.active and topic.keywords
        }
        self.places = {place.id: place for place in cc.catalogue.places}
        self._settlements = [
            (place, [phrase(name) for name in (place.name, *place.aliases)])
            for place in cc.catalogue.places
            if place.kind is PlaceKind.SETTLEMENT
        ]
        self._streets = [
            (place, [phrase(_proper(name)) for name in (place.name, *place.aliases)])
            for place in cc.catalogue.places
            if place.kind is PlaceKind.STREET
        ]

    def area_of(self, place: GazetteerPlace) -> str | None:
        if place.kind is PlaceKind.STREET and place.settlement in self.places:
            return self.places[place.settlement].area
        return place.area

    def address_of(self, place: GazetteerPlace) -> str:
        if place.kind is PlaceKind.STREET and place.settlement in self.places:
            return f"{place.name}, {self.places[place.settlement].name}"
        return place.name

    def resolve(self, place: GazetteerPlace, located_by: str) -> ProposedPlace:
        concrete = place.kind is PlaceKind.STREET
        return ProposedPlace(
            place.id, self.address_of(place), place.lat, place.lon, self.area_of(place), located_by, concrete
        )

    def classify(self, text: str, lat: float | None, lon: float | None, min_score: int = 1) -> Classification:
        words = [lemmas(word) for word in tokens(text)]
        scores: dict[str, int] = {}
        matched: dict[str, list[str]] = {}
        for code, keywords in self._keywords.items():
            hits = [keyword for keyword, wanted in keywords if find(words, wanted)]
            if hits:
                scores[code], matched[code] = len(hits), hits
        ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
        topic, score = ranked[0] if ranked else (None, 0)
        runner_up = ranked[1][1] if len(ranked) > 1 else 0
        place = self._place(words, lat, lon)
        why = []
        if topic is None or score < min_score:
            why.append("no topic's keywords found")
        elif score <= runner_up:
            why.append(f"uncertain topic: {topic} and {ranked[1][0]} score the same")
        if not place.concrete:
            why.append("no concrete place (a geotag or a street of the gazetteer)")
        return Classification(
            topic=topic,
            score=score,
            runner_up=runner_up,
            matched=tuple(matched.get(topic, [])) if topic else (),
            place=place,
            confident=not why,
            why="; ".join(why),
            scores=scores,
        )

    def _place(self, words: list[Lemmas], lat: float | None, lon: float | None) -> ProposedPlace:
        if lat is not None and lon is not None:
            located = self._cc.index.locate_point(lat, lon)
            if located.area is not None:
                return ProposedPlace(None, None, lat, lon, located.area.id, "geotag", True)
        settlements = [p for p, names in self._settlements if any(find(words, n) for n in names)]
        streets = [p for p, names in self._streets if any(_street_at(words, n) for n in names)]
        named = {p.id for p in settlements}
        in_named = [s for s in streets if s.settlement in named]
        if len(in_named) == 1 or (len(streets) == 1 and not named):
            return self.resolve((in_named or streets)[0], "gazetteer:street")
        if len(settlements) == 1:
            return self.resolve(settlements[0], "gazetteer:settlement")
        return NOWHERE


def _proper(name: str) -> str:
    """A street's own name without the generic word: «улица Ленина» → «Ленина»."""
    return " ".join(w for w in name.split() if w.casefold() not in GENERIC_STREET_WORDS) or name


def _street_at(words: Sequence[Lemmas], wanted: Phrase) -> bool:
    """The street's name, next to a word saying it is a street (or «на Ленина»)."""
    for i in find(words, wanted):
        before = words[i - 1] if i > 0 else frozenset()
        after = words[i + len(wanted)] if i + len(wanted) < len(words) else frozenset()
        if (before | after) & STREET_MARKERS:
            return True
    return False


def proposed_location(place: ProposedPlace, sent: dict[str, Any]) -> dict[str, Any]:
    """The connector's geotag, or the gazetteer place's point and address."""
    if place.located_by == "geotag":
        return sent
    return {"lat": place.lat, "lon": place.lon, "address": place.address}


@functools.lru_cache(maxsize=4)
def classifier(cc: CompiledCatalogue) -> Classifier:
    """The classifier of a catalogue version, built once per compiled version."""
    return Classifier(cc)
