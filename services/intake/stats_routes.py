"""Gateway routes for the SLA statistics that the deadlines service computes.

Admins see the full tables (per organisation, per topic); an operator sees its own
organisation's row; everyone sees the public ranking of organisations (aggregates only, no
personal data, organisations with too few appeals left out). The gateway forwards to deadlines'
`/internal/stats` API with the service token; its answers, errors included, pass through.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, FastAPI, Query

from libs.common.auth import Role
from services.intake.internal import InternalService
from services.intake.masking import mask_public
from services.intake.security import CurrentPrincipal, require_role
from services.intake.settings import IntakeSettings

PUBLIC_CACHE_SECONDS = 60.0
PUBLIC_CACHE_ENTRIES = 64

From = Annotated[
    datetime | None,
    Query(alias="from", description="period start, ISO 8601 (inclusive); default: 30 days before `to`"),
]
To = Annotated[datetime | None, Query(description="period end, ISO 8601 (exclusive); default: now")]


Month = Annotated[str, Query(pattern=r"^\d{4}-\d{2}$", description="the month, YYYY-MM (UTC)")]


class CentreBy(StrEnum):
    ORGANIZATION = "organization"
    AREA = "area"


class RankOrder(StrEnum):
    ANSWERED = "answered"
    SPEED = "speed"


class DeadlinesStatsClient:
    """Deadlines' internal statistics API."""

    def __init__(self, settings: IntakeSettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._deadlines = InternalService("deadlines", settings.deadlines_url, settings, transport)
        self._public: dict[tuple[str, ...], tuple[float, Any]] = {}

    async def close(self) -> None:
        await self._deadlines.close()

    async def get(self, path: str, params: dict[str, Any]) -> Any:
        query = {k: (v.isoformat() if isinstance(v, datetime) else str(v)) for k, v in params.items() if v}
        return await self._deadlines.call("GET", "/stats/{}", path, params=query)

    async def public(self, params: dict[str, Any], path: str = "public") -> Any:
        """Public and cheap to ask for: cached briefly per query."""
        key = (path, *(str(params.get(name)) for name in ("from", "to", "order_by", "month", "by")))
        cached = self._public.get(key)
        if cached is None or time.monotonic() - cached[0] > PUBLIC_CACHE_SECONDS:
            if len(self._public) >= PUBLIC_CACHE_ENTRIES:
                self._public.clear()
            cached = (time.monotonic(), mask_public(await self.get(path, params)))  # no personal data
            self._public[key] = cached
        return cached[1]


def stats_router(settings: IntakeSettings, transport: httpx.AsyncBaseTransport | None = None) -> APIRouter:
    client = DeadlinesStatsClient(settings, transport)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await client.close()

    router = APIRouter(prefix="/api/v1/stats", tags=["statistics"], lifespan=lifespan)

    @router.get("/organizations")
    async def organizations(principal: CurrentPrincipal, start: From = None, end: To = None) -> Any:
        """SLA per organisation: received, answered (on time, %), overdue, median and 90th percentile
        hours to first response and to answer, share of re-reviews, average rating.
        Admins see every organisation, an operator only its own."""
        require_role(principal, Role.ADMIN, Role.OPERATOR)
        table = await client.get("organizations", {"from": start, "to": end})
        if principal.role is Role.OPERATOR:
            table["items"] = [row for row in table["items"] if row["organization"]["id"] == principal.org_id]
        return table

    @router.get("/topics")
    async def topics(principal: CurrentPrincipal, start: From = None, end: To = None) -> Any:
        """The same SLA figures per topic of the catalogue (admins)."""
        require_role(principal, Role.ADMIN)
        return await client.get("topics", {"from": start, "to": end})

    @router.get("/public")
    async def public(start: From = None, end: To = None, order_by: RankOrder = RankOrder.ANSWERED) -> Any:
        """For everyone: organisations ranked by share answered, then answered on time (`order_by=answered`), or by
        median time to answer (`order_by=speed`). Aggregates only; small organisations left out."""
        return await client.public({"from": start, "to": end, "order_by": order_by.value})

    @router.get("/centre")
    async def centre(principal: CurrentPrincipal, month: Month, by: CentreBy = CentreBy.ORGANIZATION) -> Any:
        """The regional control centre's figures of social-media incidents in a month, per
        organisation or municipality: posts, % with a first response in time, mean and median hours
        to it, % answered, repeats (counted against), the ranking (admins: the control centre)."""
        require_role(principal, Role.ADMIN)
        return await client.get("centre", {"month": month, "by": by.value})

    @router.get("/centre/public")
    async def centre_public(month: Month, by: CentreBy = CentreBy.ORGANIZATION) -> Any:
        """The same figures for everyone: aggregates only, groups with too few posts left out."""
        return await client.public({"month": month, "by": by.value, "public": "true"}, "centre")

    return router
