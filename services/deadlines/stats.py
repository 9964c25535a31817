"""SLA statistics of organisations and topics from the assignment records. Pure.

The unit is an assignment: one organisation holding one appeal (a reassigned appeal counts at
each organisation that held it). It belongs to the period in which it reached the organisation.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from datetime import datetime

from libs.common.contracts.deadlines import RankOrder
from libs.common.events import OrganizationRef
from services.deadlines.schemas import (
    Assignment,
    OrganizationStats,
    Percentiles,
    PublicRank,
    StatsRow,
    TopicStats,
)

SECONDS_PER_HOUR = 3600.0


def quantile(values: list[float], q: float) -> float | None:
    """Linear interpolation between the closest ranks (NumPy's default; q=0.5 is the median)."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _hours(values: list[float]) -> Percentiles:
    median, p90 = quantile(values, 0.5), quantile(values, 0.9)
    return Percentiles(
        count=len(values),
        median=None if median is None else round(median, 2),
        p90=None if p90 is None else round(p90, 2),
    )


def pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def summarize(records: list[Assignment]) -> StatsRow:
    answered = [r for r in records if r.answered_at is not None]
    on_time = sum(1 for r in answered if r.answered_on_time)
    first_response = [
        (r.first_response_at - r.received_at).total_seconds() / SECONDS_PER_HOUR
        for r in records
        if r.first_response_at is not None
    ]
    answer = [
        ((r.answered_at - r.received_at).total_seconds() - r.paused_seconds) / SECONDS_PER_HOUR
        for r in answered
        if r.answered_at is not None
    ]
    ratings = [score for r in records for score in r.ratings]
    return StatsRow(
        received=len(records),
        answered=len(answered),
        answered_pct=pct(len(answered), len(records)),
        answered_on_time=on_time,
        answered_on_time_pct=pct(on_time, len(answered)),
        overdue=sum(1 for r in records if r.overdue_at is not None),
        first_response_hours=_hours(first_response),
        answer_hours=_hours([max(0.0, hours) for hours in answer]),
        rereview_pct=pct(sum(1 for r in answered if r.rereviews), len(answered)),
        rated=len(ratings),
        average_rating=round(sum(ratings) / len(ratings), 2) if ratings else None,
    )


def in_period(records: Iterable[Assignment], start: datetime, end: datetime) -> list[Assignment]:
    return [r for r in records if start <= r.received_at < end]


def _group(
    records: list[Assignment], key: Callable[[Assignment], Hashable]
) -> dict[Hashable, list[Assignment]]:
    groups: dict[Hashable, list[Assignment]] = {}
    for record in records:
        groups.setdefault(key(record), []).append(record)
    return groups


def by_organization(records: list[Assignment]) -> list[OrganizationStats]:
    groups = _group(records, lambda r: r.organization.id)
    rows = []
    for members in groups.values():
        # The latest name an organisation was routed under.
        latest = max(members, key=lambda r: r.received_at).organization
        rows.append(OrganizationStats(organization=latest, **summarize(members).model_dump()))
    return sorted(rows, key=lambda row: row.organization.id)


def by_topic(records: list[Assignment]) -> list[TopicStats]:
    groups = _group(records, lambda r: r.topic)
    rows = [
        TopicStats(topic=str(topic), **summarize(members).model_dump()) for topic, members in groups.items()
    ]
    return sorted(rows, key=lambda row: row.topic)


def _last_if_none(value: float | None, descending: bool) -> tuple[bool, float]:
    if value is None:
        return (True, 0.0)
    return (False, -value if descending else value)


def ranking(rows: list[OrganizationStats], order: RankOrder, min_received: int) -> list[PublicRank]:
    """Public aggregates only: organisations with enough appeals, best first."""
    eligible = [row for row in rows if row.received >= min_received]

    def key(row: OrganizationStats) -> tuple[object, ...]:
        answered = _last_if_none(row.answered_pct, descending=True)
        on_time = _last_if_none(row.answered_on_time_pct, descending=True)
        speed = _last_if_none(row.answer_hours.median, descending=False)
        first = (speed, answered, on_time) if order is RankOrder.SPEED else (answered, on_time, speed)
        return (*first, row.organization.name)

    return [
        PublicRank(
            rank=position,
            organization=OrganizationRef(id=row.organization.id, name=row.organization.name),
            received=row.received,
            answered_pct=row.answered_pct,
            answered_on_time_pct=row.answered_on_time_pct,
            median_answer_hours=row.answer_hours.median,
            median_first_response_hours=row.first_response_hours.median,
            average_rating=row.average_rating,
        )
        for position, row in enumerate(sorted(eligible, key=key), start=1)
    ]
