"""Time as a dependency, so tests can move it (30-day deadlines in milliseconds)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

Clock = Callable[[], datetime]

# Calendar-day deadlines end at this local time of their last day (services/deadlines/dates.py).
END_OF_DAY = time(23, 59, 59)


def answer_due_at(start: datetime, sla_days: int, timezone: str, sla_minutes: int | None = None) -> datetime:
    """When an answer routed at `start` is due, UTC: the end (23:59:59) of the `sla_days`-th
    calendar day after `start` in the organisation's IANA zone `timezone`, DST-safe (a day count
    in calendar days, Federal Law 59-FZ art. 12; the topic's `answer_sla_days`), or `sla_minutes`
    after `start` for the dev/demo topics that set minutes. Routing announces it on an appeal's
    first `appeal.routed`, deadlines arms the answer timer with it: one rule, here.

    Raises `ZoneInfoNotFoundError` for an unknown zone."""
    if sla_minutes:
        return start.astimezone(UTC) + timedelta(minutes=sla_minutes)
    zone = ZoneInfo(timezone)
    last_day = start.astimezone(zone).date() + timedelta(days=sla_days)
    return datetime.combine(last_day, END_OF_DAY, tzinfo=zone).astimezone(UTC)


def ends_a_day(local: datetime) -> bool:
    """Whether a due moment, in the zone it is shown in, is a day's end (23:59): notify's e-mails
    and the website then show its date alone, else the date and the time."""
    return (local.hour, local.minute) == (END_OF_DAY.hour, END_OF_DAY.minute)


def system_clock() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 15, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        """Move the fake clock forward by `delta`."""
        self._now += delta
