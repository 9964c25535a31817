"""Routing's catalogue (organisations, topics, rules, areas), its stored documents and HTTP models."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

ID_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
MUNICIPALITY_OF_AREA = "@municipality"  # a rule's organisation: whoever answers for the area
ANY = "*"


class OrgKind(StrEnum):
    REGION = "region"
    MINISTRY = "ministry"
    MUNICIPALITY = "municipality"
    INSTITUTION = "institution"


class Contacts(BaseModel):
    email: str | None = None
    phone: str | None = None
    address: str | None = None
    website: str | None = None


class Supervisor(BaseModel):
    """Who is told when the organisation cannot be helped further (e.g. the region's control centre)."""

    title: str
    email: str | None = None


class Category(BaseModel):
    code: str = Field(pattern=ID_PATTERN)
    name: str = Field(min_length=1, max_length=200)


class Organization(BaseModel):
    id: str = Field(pattern=ID_PATTERN)
    name: str = Field(min_length=1, max_length=300)
    kind: OrgKind
    parent: str | None = None
    contacts: Contacts = Field(default_factory=Contacts)
    supervisor: Supervisor | None = None
    timezone: str | None = None  # the region's when unset
    active: bool = True


class Topic(BaseModel):
    code: str = Field(pattern=ID_PATTERN)
    name: str = Field(min_length=1, max_length=300)
    category: str
    answer_sla_days: int = Field(ge=1, le=60)
    first_response_sla_hours: int | None = Field(default=None, ge=1, le=72)
    responsible: OrgKind  # the kind of organisation that normally answers
    answer_sla_minutes: int | None = Field(default=None, ge=1)  # dev/demo topics only
    dev_only: bool = False
    active: bool = True
    # Words or phrases, in any grammatical form, that make a raw social-media post this topic
    # (matched by lemma: services/routing/classify.py).
    keywords: list[str] = Field(default_factory=list, max_length=100)


class Rule(BaseModel):
    """topic × area → organisation. `topic`: a code, `<category>.*` or `*`; `area`: an area id or `*`;
    `organization`: an organisation id or `@municipality` (the organisation of the matched area)."""

    id: str = Field(pattern=ID_PATTERN)
    topic: str = Field(min_length=1, max_length=100)
    area: str = ANY
    organization: str
    priority: int = 0
    note: str | None = None


class Area(BaseModel):
    """A municipal boundary: GeoJSON Polygon or MultiPolygon in WGS 84 (lon, lat)."""

    id: str = Field(pattern=ID_PATTERN)
    name: str = Field(min_length=1, max_length=300)
    organization: str
    aliases: list[str] = Field(default_factory=list)  # address stems, e.g. "демоград"
    geometry: dict[str, Any]


class PlaceKind(StrEnum):
    SETTLEMENT = "settlement"
    STREET = "street"


class GazetteerPlace(BaseModel):
    """The region's gazetteer: a settlement (in a municipality, `area`) or a street (in a settlement).
    The point is where a post naming it is placed: the settlement's centre, or a point of the street;
    it must lie inside the municipality (checked with the catalogue)."""

    id: str = Field(pattern=ID_PATTERN)
    kind: PlaceKind
    name: str = Field(min_length=1, max_length=200)
    aliases: list[str] = Field(default_factory=list)  # other names, e.g. "Краснобор"
    area: str | None = None  # settlements: the municipality (an area id)
    settlement: str | None = None  # streets: the settlement's id
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class Region(BaseModel):
    region: str
    name: str = ""
    default_organization: str
    timezone: str


class CatalogueFile(Region):
    """The data file loaded at start-up; areas come from a GeoJSON FeatureCollection beside it."""

    areas_file: str | None = None
    categories: list[Category] = Field(default_factory=list)
    organizations: list[Organization]
    topics: list[Topic]
    rules: list[Rule] = Field(default_factory=list)
    areas: list[Area] = Field(default_factory=list)
    places: list[GazetteerPlace] = Field(default_factory=list)


class Catalogue(Region):
    """One version of the whole catalogue, as a routing decision sees it."""

    version: int = 0
    categories: list[Category] = Field(default_factory=list)
    organizations: list[Organization]
    topics: list[Topic]
    rules: list[Rule] = Field(default_factory=list)
    areas: list[Area] = Field(default_factory=list)
    places: list[GazetteerPlace] = Field(default_factory=list)


# -- HTTP ------------------------------------------------------------------------------------


class TopicView(BaseModel):
    """The public face of a topic."""

    code: str
    name: str
    category: str  # the category's name
    category_code: str
    answer_sla_days: int
    first_response_sla_hours: int | None = None
    answer_sla_minutes: int | None = None


class CatalogueInfo(BaseModel):
    region: str
    name: str
    version: int
    default_organization: str
    timezone: str
    categories: list[Category]
    counts: dict[str, int]
    loaded_file_hash: str | None = None
    updated_at: datetime | None = None


class ChangeView(BaseModel):
    version: int
    at: datetime
    actor: str
    entity: str
    entity_id: str
    action: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


class PreviewView(BaseModel):
    """What routing would decide now for a topic and a place (nothing is stored)."""

    catalogue_version: int
    organization: Organization
    rule: str
    area_id: str | None
    located_by: str
    answer_sla_days: int
    first_response_sla_hours: int | None
    candidates: list[str]


class ProblemZone(BaseModel):
    area_id: str | None
    area_name: str
    topic: str
    topic_name: str
    appeals: int
    clusters: int


class ProblemZones(BaseModel):
    since: datetime
    zones: list[ProblemZone]
    hotspots: list[dict[str, Any]]
