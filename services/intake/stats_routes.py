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

from libs.common.auth import INTERNAL_TOKEN_HEADER, Role
from libs.common.http import Problem
from services.intake.security import CurrentPrincipal, require_role
from services.intake.settings import IntakeSettings

PUBLIC_CACHE_SECONDS = 60.0
PUBLIC_CACHE_ENTRIES = 64

From = Annotated[
    datetime | None,
    Query(alias="from", description="period start, ISO 8601 (inclusive); default: 30 days before `to`"),
]
To = Annotated[datetime | None, Query(description="period end, ISO 8601 (exclusive); default: now")]


class RankOrder(StrEnum):
    ANSWERED = "answered"
    SPEED = "speed"


class DeadlinesStatsClient:
    """A small client of deadlines' internal statistics API, opened on first use, closed with the app."""

    def __init__(self, settings: IntakeSettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._settings = settings
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._public: dict[tuple[str, ...], tuple[float, Any]] = {}

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self._settings.deadlines_url.rstrip("/"),
                headers={INTERNAL_TOKEN_HEADER: self._settings.internal_token.get_secret_value()},
                timeout=self._settings.upstream_timeout_seconds,
                transport=self._transport,
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def get(self, path: str, params: dict[str, Any]) -> Any:
        query = {k: (v.isoformat() if isinstance(v, datetime) else str(v)) for k, v in params.items() if v}
        try:
            response = await self._http().get(f"/internal/stats/{path}", params=query)
        except httpx.HTTPError as exc:
            raise Problem(503, "the deadlines service is unavailable, try again shortly") from exc
        if response.status_code >= 500:
            raise Problem(503, "the deadlines service failed, try again shortly")
        try:
            body = response.json()
        except ValueError:
            body = {"detail": response.text}
        if response.status_code >= 400:
            raise Problem(response.status_code, str(body.get("detail") or response.reason_phrase))
        return body

    async def public(self, params: dict[str, Any]) -> Any:
        """Public and cheap to ask for: cached briefly per query."""
        key = tuple(str(params.get(name)) for name in ("from", "to", "order_by"))
        cached = self._public.get(key)
        if cached is None or time.monotonic() - cached[0] > PUBLIC_CACHE_SECONDS:
            if len(self._public) >= PUBLIC_CACHE_ENTRIES:
                self._public.clear()
            cached = (time.monotonic(), await self.get("public", params))
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

    return router
