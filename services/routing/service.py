"""Routing decisions: pure functions over one catalogue version, no I/O.

Order of candidates for a topic at a place (the first is the decision; reassignment walks on):
1. the rules matching the topic and the place's area, by priority, then specificity, then id;
2. the kind the topic names: `municipality` → the organisation of the area;
3. the same for the neighbouring areas within `near_border_m` (a point near a border may be theirs);
4. the region's default organisation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from services.routing.geo import AreaIndex, Located, geometry_problem, overlapping
from services.routing.schemas import (
    ANY,
    MUNICIPALITY_OF_AREA,
    Area,
    Catalogue,
    Organization,
    OrgKind,
    PlaceKind,
    Rule,
    Topic,
)

# Used when a topic is unknown to the catalogue (e.g. removed after the citizen chose it).
FALLBACK_SLA_DAYS = 30
NEAR_BORDER_M = 500.0


@dataclass(frozen=True)
class Place:
    lat: float | None = None
    lon: float | None = None
    address: str | None = None


@dataclass(frozen=True)
class Candidate:
    organization: Organization
    rule: str


@dataclass(frozen=True)
class Decision:
    organization: Organization
    rule: str
    answer_sla_days: int
    first_response_sla_hours: int | None
    answer_sla_minutes: int | None
    timezone: str
    area_id: str | None
    located_by: str
    catalogue_version: int
    candidates: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class Move:
    """Where a reassignment or escalation takes the appeal, and why (for the audit trail)."""

    organization: Organization
    rule: str
    escalation_level: int
    note: str


def topic_specificity(selector: str) -> int:
    """How specific a rule's topic selector is: 0 for any, 1 for a category (`x.*`), 2 for one topic."""
    return 0 if selector == ANY else 1 if selector.endswith(".*") else 2


def rule_order(rule: Rule) -> tuple[int, int, str]:
    """Rules best first: higher priority, then more specific (a named area counts 2), then by id."""
    specificity = topic_specificity(rule.topic) + (0 if rule.area == ANY else 2)
    return (-rule.priority, -specificity, rule.id)


class CompiledCatalogue:
    """One catalogue version with its indexes built: what every decision reads."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self.version = catalogue.version
        self.timezone = catalogue.timezone
        self.organizations = {org.id: org for org in catalogue.organizations}
        self.topics = {topic.code: topic for topic in catalogue.topics}
        self.categories = {category.code: category.name for category in catalogue.categories}
        self.areas = {area.id: area for area in catalogue.areas}
        self.index = AreaIndex(catalogue.areas)
        self.default = self.organizations[catalogue.default_organization]
        self._rules = sorted(catalogue.rules, key=rule_order)
        self._by_topic: dict[str, list[Rule]] = {}

    def rules_for(self, topic: Topic) -> list[Rule]:
        """The rules that may apply to the topic (any, its category's or its own), cached per topic."""
        if topic.code not in self._by_topic:
            self._by_topic[topic.code] = [
                r for r in self._rules if r.topic in (ANY, topic.code, f"{topic.category}.*")
            ]
        return self._by_topic[topic.code]

    def locate(self, place: Place) -> Located:
        """The area (and how it was found: point or address) of the place."""
        return self.index.locate(place.lat, place.lon, place.address)

    def organization_of(self, area: Area | None) -> Organization | None:
        """The active organisation of the area, None if none."""
        org = self.organizations.get(area.organization) if area else None
        return org if org and org.active else None

    def resolve(self, rule: Rule, area: Area | None) -> Organization | None:
        """The active organisation a rule names (the area's municipality for `MUNICIPALITY_OF_AREA`)."""
        if rule.organization == MUNICIPALITY_OF_AREA:
            return self.organization_of(area)
        org = self.organizations.get(rule.organization)
        return org if org and org.active else None

    def timezone_of(self, org: Organization) -> str:
        """The organisation's IANA time zone, else the region's."""
        return org.timezone or self.timezone


def candidates(
    cc: CompiledCatalogue, topic: Topic, located: Located, place: Place, near_border_m: float = NEAR_BORDER_M
) -> list[Candidate]:
    """Every organisation that could answer, best first, each once."""
    found: list[Candidate] = []
    seen: set[str] = set()

    def add(org: Organization | None, rule: str) -> None:
        """Adds the organisation as a candidate once."""
        if org is not None and org.id not in seen:
            seen.add(org.id)
            found.append(Candidate(org, rule))

    def from_area(area: Area | None, prefix: str) -> None:
        """Adds the area's candidates: by rule, then the municipality for municipal topics."""
        for rule in cc.rules_for(topic):
            if rule.area in (ANY, area.id if area else None):
                add(cc.resolve(rule, area), f"{prefix}rule:{rule.id}")
        if topic.responsible is OrgKind.MUNICIPALITY:
            add(cc.organization_of(area), f"{prefix}kind:municipality")

    from_area(located.area, "")
    if place.lat is not None and place.lon is not None and located.area is not None:
        for neighbour in cc.index.nearby(place.lat, place.lon, near_border_m):
            if neighbour.id != located.area.id:
                from_area(neighbour, f"near:{neighbour.id}:")
    add(cc.default, "fallback:region-default")
    return found


def decide(
    cc: CompiledCatalogue, topic_code: str, place: Place = Place(), near_border_m: float = NEAR_BORDER_M
) -> Decision:
    """The organisation responsible for the topic at the place, with the rule that chose it, the SLA
    (days; first response in hours; dev minutes), time zone and the candidates best first. An
    unknown topic goes to the default organisation with `FALLBACK_SLA_DAYS` (30) days
    (`fallback:unknown-topic`, docs/routing.md). `near_border_m` in metres."""
    located = cc.locate(place)
    area_id = located.area.id if located.area else None
    topic = cc.topics.get(topic_code)
    if topic is None:
        org = cc.default
        return Decision(
            organization=org,
            rule="fallback:unknown-topic",
            answer_sla_days=FALLBACK_SLA_DAYS,
            first_response_sla_hours=None,
            answer_sla_minutes=None,
            timezone=cc.timezone_of(org),
            area_id=area_id,
            located_by=located.by,
            catalogue_version=cc.version,
            candidates=(org.id,),
        )
    found = candidates(cc, topic, located, place, near_border_m)
    best = found[0]
    return Decision(
        organization=best.organization,
        rule=best.rule,
        answer_sla_days=topic.answer_sla_days,
        first_response_sla_hours=topic.first_response_sla_hours,
        answer_sla_minutes=topic.answer_sla_minutes,
        timezone=cc.timezone_of(best.organization),
        area_id=area_id,
        located_by=located.by,
        catalogue_version=cc.version,
        candidates=tuple(c.organization.id for c in found),
    )


EXHAUSTED = "reassignment:exhausted"  # no candidate left: the control centre's queue (flows)


def reassignment(
    cc: CompiledCatalogue, topic_code: str, place: Place, current: str, refused: set[str], level: int
) -> Move:
    """The next candidate that has not refused; none left: `EXHAUSTED`, the region's default
    organisation (the regional control centre) with its supervisor named in the note."""
    excluded = refused | {current}
    topic = cc.topics.get(topic_code)
    found = candidates(cc, topic, cc.locate(place), place) if topic else [Candidate(cc.default, "fallback")]
    for candidate in found:
        if candidate.organization.id not in excluded:
            note = (
                f"«{cc.organizations[current].name if current in cc.organizations else current}» отказалась"
            )
            return Move(candidate.organization, f"reassignment:{candidate.rule}", level, note)
    supervisor = cc.default.supervisor
    whom = f"{supervisor.title} ({supervisor.email})" if supervisor and supervisor.email else "куратор"
    note = f"все возможные исполнители отказались; решение за региональным центром управления ({whom})"
    return Move(cc.default, EXHAUSTED, level, note)


def escalation(cc: CompiledCatalogue, current: str, level: int) -> Move:
    """Up to the parent organisation (skipping inactive ones); at the top it stays, explained."""
    org = cc.organizations.get(current)
    parent = org.parent if org else cc.default.id if current != cc.default.id else None
    seen = {current}
    while parent and parent not in seen:
        seen.add(parent)
        target = cc.organizations.get(parent)
        if target is None:
            break
        if target.active:
            return Move(
                target, f"escalation:{current}->{target.id}", level + 1, f"передано в «{target.name}»"
            )
        parent = target.parent
    name = org.name if org else current
    note = f"«{name}» — верхний уровень: обращение остаётся у неё, уровень эскалации не меняется"
    return Move(org or cc.default, "escalation:top-level", level, note)


def validate(catalogue: Catalogue) -> list[str]:
    """What is wrong with a catalogue as a whole (an empty list: it can be used)."""
    problems: list[str] = []
    orgs = {org.id: org for org in catalogue.organizations}
    topics = {topic.code for topic in catalogue.topics}
    categories = {category.code for category in catalogue.categories}
    areas = {area.id for area in catalogue.areas}
    if catalogue.default_organization not in orgs:
        problems.append(f"the default organisation {catalogue.default_organization!r} does not exist")
    for org in catalogue.organizations:
        chain, parent = {org.id}, org.parent
        while parent is not None:
            if parent not in orgs:
                problems.append(f"organisation {org.id!r}: parent {parent!r} does not exist")
                break
            if parent in chain:
                problems.append(f"organisation {org.id!r}: its parents form a cycle")
                break
            chain.add(parent)
            parent = orgs[parent].parent
    for topic in catalogue.topics:
        if categories and topic.category not in categories:
            problems.append(f"topic {topic.code!r}: unknown category {topic.category!r}")
    for rule in catalogue.rules:
        selector = rule.topic[:-2] if rule.topic.endswith(".*") else rule.topic
        known = categories if rule.topic.endswith(".*") else topics
        if rule.topic != ANY and selector not in known:
            problems.append(f"rule {rule.id!r}: no topic or category {rule.topic!r}")
        if rule.area != ANY and rule.area not in areas:
            problems.append(f"rule {rule.id!r}: no area {rule.area!r}")
        if rule.organization != MUNICIPALITY_OF_AREA and rule.organization not in orgs:
            problems.append(f"rule {rule.id!r}: no organisation {rule.organization!r}")
    for area in catalogue.areas:
        if area.organization not in orgs:
            problems.append(f"area {area.id!r}: no organisation {area.organization!r}")
        if problem := geometry_problem(area.geometry):
            problems.append(f"area {area.id!r}: {problem}")
    if not any("geometry" in p for p in problems):
        problems += [f"areas {a!r} and {b!r} overlap" for a, b in overlapping(catalogue.areas)]
        problems += gazetteer_problems(catalogue)
    return problems


def gazetteer_problems(catalogue: Catalogue) -> list[str]:
    """A settlement names its municipality, a street its settlement; each point lies in that area."""
    problems: list[str] = []
    places = {place.id: place for place in catalogue.places}
    index = AreaIndex(catalogue.areas) if catalogue.places else None
    for place in catalogue.places:
        owner = places.get(place.settlement or "") if place.kind is PlaceKind.STREET else place
        if owner is None or owner.kind is not PlaceKind.SETTLEMENT:
            problems.append(f"place {place.id!r}: no settlement {place.settlement!r}")
            continue
        located = index.locate_point(place.lat, place.lon).area if index else None
        if owner.area is None or located is None or located.id != owner.area:
            problems.append(f"place {place.id!r}: its point is not in area {owner.area!r}")
    return problems
