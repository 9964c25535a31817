"""Deadline arithmetic: pure, time zone aware, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo


def answer_due_at(start: datetime, sla_days: int, timezone: str) -> datetime:
    """Calendar days in the organisation's time zone: due at the end of the last day."""
    zone = ZoneInfo(timezone)
    last_day = start.astimezone(zone).date() + timedelta(days=sla_days)
    return datetime.combine(last_day, time(23, 59, 59), tzinfo=zone).astimezone(UTC)


def first_response_due_at(start: datetime, sla_hours: int) -> datetime:
    return start.astimezone(UTC) + timedelta(hours=sla_hours)
