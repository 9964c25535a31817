"""Gateway routes for the SLA statistics that the deadlines service computes.

Admins see the full tables (per organisation, per topic); an operator sees its own
organisation's row; everyone sees the public ranking of organisations (aggregates only, no
personal data, organisations with too few appeals left out). The gateway forwards to deadlines'
`/internal/stats` API with the service token; its answers, errors included, pass through.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from libs.common.auth import Role
from libs.common.contracts.deadlines import MONTH_PATTERN, CentreGroup, RankOrder
from services.intake.gateway.clients import DeadlinesClient
from services.intake.security import CurrentPrincipal, require_role

From = Annotated[
    datetime | None,
    Query(alias="from", description="period start, ISO 8601 (inclusive); default: 30 days before `to`"),
]
To = Annotated[datetime | None, Query(description="period end, ISO 8601 (exclusive); default: now")]
Month = Annotated[str, Query(pattern=MONTH_PATTERN, description="the month, YYYY-MM (UTC)")]


def stats_router(client: DeadlinesClient) -> APIRouter:
    """/api/v1/stats/...: deadlines' SLA tables through `client` (public ones cached there)."""
    router = APIRouter(prefix="/api/v1/stats", tags=["statistics"])

    @router.get("/organizations")
    async def organizations(principal: CurrentPrincipal, start: From = None, end: To = None) -> Any:
        """SLA per organisation: received, answered (on time, %), overdue, median and 90th percentile
        hours to first response and to answer, share of re-reviews, average rating.
        Admins see every organisation, an operator only its own."""
        require_role(principal, Role.ADMIN, Role.OPERATOR)
        table = await client.stats("organizations", {"from": start, "to": end})
        if principal.role is Role.OPERATOR:
            table["items"] = [row for row in table["items"] if row["organization"]["id"] == principal.org_id]
        return table

    @router.get("/topics")
    async def topics(principal: CurrentPrincipal, start: From = None, end: To = None) -> Any:
        """The same SLA figures per topic of the catalogue (admins)."""
        require_role(principal, Role.ADMIN)
        return await client.stats("topics", {"from": start, "to": end})

    @router.get("/public")
    async def public(start: From = None, end: To = None, order_by: RankOrder = RankOrder.ANSWERED) -> Any:
        """For everyone: organisations ranked by share answered, then answered on time (`order_by=answered`), or by
        median time to answer (`order_by=speed`). Aggregates only; small organisations left out."""
        return await client.public_stats({"from": start, "to": end, "order_by": order_by.value})

    @router.get("/centre")
    async def centre(
        principal: CurrentPrincipal, month: Month, by: CentreGroup = CentreGroup.ORGANIZATION
    ) -> Any:
        """The regional control centre's figures of social-media incidents in a month, per
        organisation or municipality: posts, % with a first response in time, mean and median hours
        to it, % answered, repeats (counted against), the ranking (admins: the control centre)."""
        require_role(principal, Role.ADMIN)
        return await client.stats("centre", {"month": month, "by": by.value})

    @router.get("/centre/public")
    async def centre_public(month: Month, by: CentreGroup = CentreGroup.ORGANIZATION) -> Any:
        """The same figures for everyone: aggregates only, groups with too few posts left out."""
        return await client.public_stats({"month": month, "by": by.value, "public": "true"}, "centre")

    return router
