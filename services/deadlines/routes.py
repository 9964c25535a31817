"""Internal HTTP API (guarded by the internal token): SLA statistics and an appeal's timers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from libs.common.contracts.deadlines import MONTH_PATTERN, CentreGroup, RankOrder
from libs.common.http import Problem, internal_auth
from services.deadlines import centre as centre_stats
from services.deadlines import stats
from services.deadlines.flows import DeadlineFlows
from services.deadlines.schemas import (
    AppealClock,
    CentreTable,
    OrganizationTable,
    Period,
    PublicRanking,
    TopicTable,
)
from services.deadlines.settings import DeadlinesSettings

From = Annotated[
    datetime | None, Query(alias="from", description="start (inclusive); default: `to` - 30 days")
]
To = Annotated[datetime | None, Query(description="end (exclusive); default: now")]
Month = Annotated[str, Query(pattern=MONTH_PATTERN, description="the month, YYYY-MM (UTC)")]


def internal_router(flows: DeadlineFlows, settings: DeadlinesSettings) -> APIRouter:
    """/internal/stats/... (organisations, topics, public ranking, the control centre's month) and
    /internal/appeals/{id}/timers, behind the internal token. Its routes answer Problem 422 for a
    bad period or month and 404 for an appeal without timers."""
    guard = internal_auth(settings.internal_token.get_secret_value())
    router = APIRouter(prefix="/internal", tags=["internal"], dependencies=[guard])

    def period(start: datetime | None, end: datetime | None) -> Period:
        """The stats window: `end` defaults to now, `start` to `DEADLINES_STATS_DEFAULT_DAYS` days
        before it. Raises Problem 422 when `start` is not before `end` or the window is longer than
        `DEADLINES_STATS_MAX_DAYS` days."""
        end = _aware(end) if end else flows.now()
        start = _aware(start) if start else end - timedelta(days=settings.stats_default_days)
        if start >= end:
            raise Problem(422, "`from` must be earlier than `to`")
        if end - start > timedelta(days=settings.stats_max_days):
            raise Problem(422, f"the period may span at most {settings.stats_max_days} days")
        return Period(from_=start, to=end)

    @router.get("/stats/organizations", response_model=OrganizationTable)
    async def organizations(start: From = None, end: To = None) -> OrganizationTable:
        """Per organisation: received, answered (on time), time to first response and to answer."""
        window = period(start, end)
        records = await flows.assignments(window.from_, window.to)
        return OrganizationTable(period=window, items=stats.by_organization(records))

    @router.get("/stats/topics", response_model=TopicTable)
    async def topics(start: From = None, end: To = None) -> TopicTable:
        window = period(start, end)
        records = await flows.assignments(window.from_, window.to)
        return TopicTable(period=window, items=stats.by_topic(records))

    @router.get("/stats/public", response_model=PublicRanking)
    async def public(
        start: From = None, end: To = None, order_by: RankOrder = RankOrder.ANSWERED
    ) -> PublicRanking:
        """Aggregates for everyone: organisations ranked by share answered and speed."""
        window = period(start, end)
        rows = stats.by_organization(await flows.assignments(window.from_, window.to))
        items = stats.ranking(rows, order_by, settings.public_min_received)
        return PublicRanking(
            period=window, order_by=str(order_by), min_received=settings.public_min_received, items=items
        )

    @router.get("/stats/centre", response_model=CentreTable)
    async def centre(
        month: Month, by: CentreGroup = CentreGroup.ORGANIZATION, public: bool = False
    ) -> CentreTable:
        """The regional control centre's figures of social-media incidents in a month, per
        organisation or municipality, ranked. `public=true`: only groups with at least
        `DEADLINES_PUBLIC_MIN_RECEIVED` posts (the public pages).

        Answers 422 when `month` is not YYYY-MM."""
        try:
            start, end = centre_stats.month_bounds(month)
        except ValueError:
            raise Problem(422, f"month {month!r} is not YYYY-MM") from None
        min_posts = settings.public_min_received if public else 1
        items = centre_stats.table(await flows.assignments(start, end), by, min_posts)
        window = Period(from_=start, to=end)
        return CentreTable(month=month, by=str(by), period=window, min_posts=min_posts, items=items)

    @router.get("/appeals/{appeal_id}/timers", response_model=AppealClock)
    async def appeal_timers(appeal_id: str) -> AppealClock:
        """The appeal's timers, SLA record and extension audit (for operators' tools and support).

        404 when no timers are stored for the appeal."""
        clock = await flows.get(appeal_id)
        if clock is None:
            raise Problem(404, f"no timers for appeal {appeal_id}")
        return clock

    return router


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
