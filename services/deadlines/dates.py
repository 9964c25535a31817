"""Deadline arithmetic: calendar days in the organisation's time zone, DST-safe. Pure. The first
answer deadline's rule, which routing announces too, is `libs.common.clock.answer_due_at`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from libs.common.clock import END_OF_DAY


def nearest_end_of_day(moment: datetime, not_before: datetime, timezone: str) -> datetime:
    """The end (23:59:59) of a day in the zone nearest to `moment`, never before `not_before`: a
    calendar-day deadline moved by a pause of any length still ends a day (a 2-second pause
    across midnight does not make it 00:00:01 of the next day, nor add a day)."""
    zone = ZoneInfo(timezone)
    local = moment.astimezone(zone)
    after = datetime.combine(local.date(), END_OF_DAY, tzinfo=zone)  # this day's end, at or after it
    before = datetime.combine(local.date() - timedelta(days=1), END_OF_DAY, tzinfo=zone)
    if moment - before < after - moment and before >= not_before:
        return before.astimezone(UTC)
    return after.astimezone(UTC)


def first_response_due_at(start: datetime, sla_hours: int) -> datetime:
    """Hours are elapsed time: a DST change does not stretch a 4-hour first response."""
    return start.astimezone(UTC) + timedelta(hours=sla_hours)


def extended_due_at(due: datetime, days: int, timezone: str) -> datetime:
    """The same local wall-clock time `days` calendar days later (so 23:59:59 stays 23:59:59)."""
    zone = ZoneInfo(timezone)
    local = due.astimezone(zone)
    moved = datetime.combine(local.date() + timedelta(days=days), local.time(), tzinfo=zone)
    return moved.astimezone(UTC)


def warning_times(due: datetime, now: datetime, offsets: tuple[timedelta, ...]) -> list[datetime]:
    """When to warn before `due`: only the instants still ahead (a short deadline gets none)."""
    return sorted({due - offset for offset in offsets if due - offset > now})


def truncate_ms(moment: datetime) -> datetime:
    """MongoDB keeps milliseconds: compute with what will be read back."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
