"""The regional control centre's figures of social-media incidents, per organisation or
municipality and month. Pure: assignment records in, ranked rows out (docs/deadlines.md).

The unit is an assignment on channel `social` (a post at the organisation that held it) received
in the month. On time = the first public reply (`incident.responded`, or the answer if it came
first) no later than `first_response_sla_hours` after routing. A repeat appeal counts against the
organisation: the ranking's `score_pct` is (responded on time − repeats) / posts × 100.
"""

from __future__ import annotations

from datetime import UTC, datetime

from libs.common.contracts.deadlines import CentreGroup
from libs.common.events import OrganizationRef
from services.deadlines.schemas import Assignment, CentreRow
from services.deadlines.stats import SECONDS_PER_HOUR, pct, quantile

SOCIAL = "social"


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """`YYYY-MM` → [first instant, first instant of the next month) in UTC. Raises ValueError."""
    start = datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC)
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start, end


def response_hours(record: Assignment) -> float | None:
    if record.first_response_at is None:
        return None
    return (record.first_response_at - record.received_at).total_seconds() / SECONDS_PER_HOUR


def on_time(record: Assignment) -> bool:
    hours = response_hours(record)
    sla = record.first_response_sla_hours
    return hours is not None and sla is not None and hours <= sla


def row(records: list[Assignment]) -> CentreRow:
    """The figures of one group (rank 0 until ranked)."""
    hours = [h for h in map(response_hours, records) if h is not None]
    in_time = sum(1 for r in records if on_time(r))
    answered = sum(1 for r in records if r.answered_at is not None)
    repeats = sum(1 for r in records if r.repeat)
    median = quantile(hours, 0.5)
    return CentreRow(
        rank=0,
        posts=len(records),
        responded_on_time=in_time,
        responded_on_time_pct=pct(in_time, len(records)),
        first_response_mean_hours=round(sum(hours) / len(hours), 2) if hours else None,
        first_response_median_hours=None if median is None else round(median, 2),
        answered=answered,
        answered_pct=pct(answered, len(records)),
        repeats=repeats,
        score_pct=pct(in_time - repeats, len(records)),
    )


def table(records: list[Assignment], by: CentreGroup, min_posts: int = 1) -> list[CentreRow]:
    """Rows of the groups with at least `min_posts` posts, best first, ranked 1..n."""
    groups: dict[str | None, list[Assignment]] = {}
    for record in records:
        if record.channel == SOCIAL:
            key = record.organization.id if by is CentreGroup.ORGANIZATION else record.area_id
            groups.setdefault(key, []).append(record)
    rows = []
    for key, members in groups.items():
        if len(members) < min_posts:
            continue
        figures = row(members)
        if by is CentreGroup.ORGANIZATION:
            latest = max(members, key=lambda r: r.received_at).organization
            figures.organization = OrganizationRef(id=latest.id, name=latest.name)
        else:
            figures.area_id = key
        rows.append(figures)

    def order(r: CentreRow) -> tuple[object, ...]:
        mean = r.first_response_mean_hours
        name = r.organization.id if r.organization else r.area_id or ""
        return (-(r.score_pct or 0.0), mean is None, mean or 0.0, name)

    ranked = sorted(rows, key=order)
    for position, figures in enumerate(ranked, start=1):
        figures.rank = position
    return ranked
