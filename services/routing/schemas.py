from __future__ import annotations

from pydantic import BaseModel


class Organization(BaseModel):
    id: str
    name: str
    kind: str
    parent: str | None = None


class Topic(BaseModel):
    code: str
    name: str
    category: str
    answer_sla_days: int
    first_response_sla_hours: int | None = None
    responsible: str


class Catalogue(BaseModel):
    region: str
    default_organization: str
    timezone: str
    organizations: list[Organization]
    topics: list[Topic]


class TopicView(BaseModel):
    """The public face of a topic."""

    code: str
    name: str
    category: str
    answer_sla_days: int
    first_response_sla_hours: int | None = None
