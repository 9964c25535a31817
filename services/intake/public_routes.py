"""Public appeals (issue #16): appeals whose authors allowed publication, masked of personal data.

An appeal is public when its author submitted it with `"public": true` (default: private) and
routing's moderation accepted it (any status but `received` and `rejected`). The public sees its
number, kind, topic, status, organisation, area, dates, the place (coordinates rounded to about
100 m) and the summary, description and address with personal data masked (`masking.py`), plus
the answers the organisation marked public (`"public": true` on the answer), masked the same way.
The author sees what was masked (`GET /api/v1/appeals/{id}/publication`). Open311's
`GET requests` lists the same appeals, masked (`open311.py`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel
from pymongo import ASCENDING, DESCENDING

from libs.common.auth import Role
from libs.common.http import Id, Offset, Problem
from libs.common.store import Database, Document
from services.intake.masking import mask
from services.intake.records import APPEALS
from services.intake.schemas import AppealStatus
from services.intake.security import CurrentPrincipal

PUBLIC_STATUSES = [str(s) for s in AppealStatus if s not in (AppealStatus.RECEIVED, AppealStatus.REJECTED)]
PLACE_DECIMALS = 3  # ~100 m: the problem's place, not the author's door
Limit = Annotated[int, Query(ge=1, le=100)]


class PublicAnswer(BaseModel):
    text: str
    at: datetime


class PublicAppeal(BaseModel):
    number: str
    kind: str
    topic: str
    status: AppealStatus
    organization: str | None = None
    area_id: str | None = None
    summary: str
    description: str
    address: str | None = None
    lat: float | None = None
    lon: float | None = None
    created_at: datetime
    updated_at: datetime
    answers: list[PublicAnswer] = []


class PublicAppealPage(BaseModel):
    items: list[PublicAppeal]
    total: int


class MaskedItem(BaseModel):
    field: str
    kind: str
    text: str  # the original: shown to the author only


class Publication(BaseModel):
    """What the public sees of the author's appeal, and what was masked out of it."""

    public: bool
    listed: bool  # public and past moderation: on the public list now
    summary: str
    description: str
    address: str | None
    masked: list[MaskedItem]


def public_query() -> Document:
    return {"public": True, "status": {"$in": PUBLIC_STATUSES}}


def _round(value: Any) -> float | None:
    return round(float(value), PLACE_DECIMALS) if isinstance(value, int | float) else None


def public_view(appeal: Document) -> PublicAppeal:
    location = appeal.get("location") or {}
    address = location.get("address")
    return PublicAppeal(
        number=appeal["number"],
        kind=appeal["kind"],
        topic=appeal["topic"],
        status=appeal["status"],
        organization=(appeal.get("organization") or {}).get("name"),
        area_id=appeal.get("area_id"),
        summary=mask(appeal.get("summary")).text,
        description=mask(appeal.get("description")).text,
        address=mask(address).text if address else None,
        lat=_round(location.get("lat")),
        lon=_round(location.get("lon")),
        created_at=appeal["created_at"],
        updated_at=appeal["updated_at"],
        answers=[
            PublicAnswer(text=mask(answer.get("text")).text, at=answer["at"])
            for answer in appeal.get("answers") or []
            if answer.get("public")
        ],
    )


def open311_public_fields(appeal: Document) -> dict[str, Any]:
    """Open311 fields of a public appeal sent through the platform's own API: masked."""
    view = public_view(appeal)
    return {
        "description": view.description,
        "address": view.address,
        "lat": view.lat,
        "long": view.lon,
        "status_notes": view.answers[-1].text if view.answers else None,
        "address_id": None,
        "media_url": None,
    }


def publication(appeal: Document) -> Publication:
    location = appeal.get("location") or {}
    texts = {"summary": appeal.get("summary"), "description": appeal.get("description")}
    texts["address"] = location.get("address")
    masked = {name: mask(text) for name, text in texts.items()}
    return Publication(
        public=bool(appeal.get("public")),
        listed=bool(appeal.get("public")) and appeal.get("status") in PUBLIC_STATUSES,
        summary=masked["summary"].text,
        description=masked["description"].text,
        address=masked["address"].text if texts["address"] else None,
        masked=[
            MaskedItem(field=name, kind=str(kind), text=original)
            for name, result in masked.items()
            for kind, original in result.found
        ],
    )


class PublicAppeals:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def ensure_indexes(self) -> None:
        await self._db[APPEALS].create_index([("public", ASCENDING), ("created_at", DESCENDING)])

    async def page(self, filters: Document, limit: int, offset: int) -> PublicAppealPage:
        query = {**public_query(), **filters}
        cursor = self._db[APPEALS].find(query).sort([("created_at", DESCENDING), ("_id", DESCENDING)])
        docs = await cursor.skip(offset).limit(limit).to_list(limit)
        total = await self._db[APPEALS].count_documents(query)
        return PublicAppealPage(items=[public_view(doc) for doc in docs], total=total)

    async def one(self, number: str) -> PublicAppeal:
        """The public view of an appeal by its number. Raises Problem 404 unless it is past
        moderation and public."""
        doc = await self._db[APPEALS].find_one({"number": number, **public_query()})
        if doc is None:
            raise Problem(404, f"no public appeal {number}")
        return public_view(doc)


def public_appeals_router(appeals: PublicAppeals, db: Database) -> APIRouter:
    """Its routes answer Problem 404 for an appeal that is not public (or not the caller's own) and
    422 for a status filter outside the public ones."""
    router = APIRouter(prefix="/api/v1", tags=["public appeals"])

    @router.get("/public/appeals", response_model=PublicAppealPage)
    async def public_list(
        area_id: Annotated[str | None, Query(max_length=64)] = None,
        topic: Annotated[str | None, Query(max_length=100)] = None,
        status: AppealStatus | None = None,
        start: Annotated[datetime | None, Query(alias="from")] = None,
        end: Annotated[datetime | None, Query(alias="to")] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> PublicAppealPage:
        """Public appeals, newest first (no sign-in): by area (a municipality of the catalogue, as on
        the problem-zones page), topic code, status, period (`from` inclusive, `to` exclusive)."""
        filters: Document = {}
        if area_id:
            filters["area_id"] = area_id
        if topic:
            filters["topic"] = topic
        if status is not None:
            if str(status) not in PUBLIC_STATUSES:
                raise Problem(422, "the public list holds appeals past moderation only")
            filters["status"] = str(status)
        if start or end:
            filters["created_at"] = {**({"$gte": start} if start else {}), **({"$lt": end} if end else {})}
        return await appeals.page(filters, limit, offset)

    @router.get("/public/appeals/{number}", response_model=PublicAppeal)
    async def public_one(number: Id) -> PublicAppeal:
        return await appeals.one(number)

    @router.get("/appeals/{appeal_id}/publication", response_model=Publication, tags=["appeals"])
    async def my_publication(appeal_id: Id, principal: CurrentPrincipal) -> Publication:
        """The author's view of publication: whether the appeal is public, what the public sees,
        and what was masked (with the originals, for the author only).

        404 unless the caller is the citizen who wrote the appeal."""
        doc = await db[APPEALS].find_one({"_id": appeal_id})
        if doc is None or principal.role is not Role.CITIZEN or doc.get("author_id") != principal.sub:
            raise Problem(404, f"no appeal {appeal_id}")
        return publication(doc)

    return router
