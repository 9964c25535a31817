"""Deadline arithmetic: calendar days in the organisation's time zone, month ends, DST."""

from datetime import UTC, datetime, timedelta

import pytest

from libs.common.clock import answer_due_at
from services.deadlines.dates import (
    extended_due_at,
    first_response_due_at,
    truncate_ms,
    warning_times,
)


def test_answer_due_at_end_of_last_calendar_day_in_org_time_zone() -> None:
    # 22:30 UTC on 31 Jan is already 1 Feb in Moscow (UTC+3): 10 days from 1 Feb is 11 Feb.
    start = datetime(2026, 1, 31, 22, 30, tzinfo=UTC)
    due = answer_due_at(start, 10, "Europe/Moscow")
    assert due == datetime(2026, 2, 11, 20, 59, 59, tzinfo=UTC)


def test_same_instant_gives_different_days_in_different_zones() -> None:
    # 15:00 UTC on 10 Mar: still 10 Mar in Kaliningrad (UTC+2), already 11 Mar in Vladivostok (UTC+10).
    start = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
    assert answer_due_at(start, 10, "Europe/Kaliningrad") == datetime(2026, 3, 20, 21, 59, 59, tzinfo=UTC)
    assert answer_due_at(start, 10, "Asia/Vladivostok") == datetime(2026, 3, 21, 13, 59, 59, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "days", "expected_day"),
    [
        (datetime(2028, 2, 20, 9, 0, tzinfo=UTC), 10, datetime(2028, 3, 1)),  # leap year: 29 Feb exists
        (datetime(2027, 2, 20, 9, 0, tzinfo=UTC), 10, datetime(2027, 3, 2)),  # no 29 Feb
        (datetime(2026, 1, 31, 9, 0, tzinfo=UTC), 30, datetime(2026, 3, 2)),  # January's end + 30 days
        (datetime(2026, 12, 25, 9, 0, tzinfo=UTC), 10, datetime(2027, 1, 4)),  # over the new year
        (datetime(2026, 4, 30, 9, 0, tzinfo=UTC), 1, datetime(2026, 5, 1)),  # the last day of a month
    ],
)
def test_answer_due_crosses_month_and_year_ends(start: datetime, days: int, expected_day: datetime) -> None:
    due = answer_due_at(start, days, "UTC")
    assert due == expected_day.replace(hour=23, minute=59, second=59, tzinfo=UTC)


def test_answer_due_follows_spring_daylight_saving_of_the_zone() -> None:
    # Berlin switches to summer time on 29 Mar 2026: end of 30 Mar local is 21:59:59 UTC.
    due = answer_due_at(datetime(2026, 3, 20, 12, 0, tzinfo=UTC), 10, "Europe/Berlin")
    assert due == datetime(2026, 3, 30, 21, 59, 59, tzinfo=UTC)


def test_answer_due_follows_autumn_daylight_saving_of_the_zone() -> None:
    # Berlin goes back to winter time on 25 Oct 2026: end of 30 Oct local is 22:59:59 UTC.
    due = answer_due_at(datetime(2026, 10, 20, 12, 0, tzinfo=UTC), 10, "Europe/Berlin")
    assert due == datetime(2026, 10, 30, 22, 59, 59, tzinfo=UTC)


def test_first_response_in_elapsed_hours_even_over_a_dst_change() -> None:
    start = datetime(2026, 5, 1, 23, 0, tzinfo=UTC)
    assert first_response_due_at(start, 4) == datetime(2026, 5, 2, 3, 0, tzinfo=UTC)
    # The night Berlin springs forward: still exactly 9 hours later.
    night = datetime(2026, 3, 28, 23, 30, tzinfo=UTC)
    assert first_response_due_at(night, 9) - night == timedelta(hours=9)


def test_extension_keeps_the_local_end_of_day_across_dst() -> None:
    due = datetime(2026, 3, 25, 22, 59, 59, tzinfo=UTC)  # 23:59:59 in Berlin, winter time
    extended = extended_due_at(due, 10, "Europe/Berlin")
    assert extended == datetime(2026, 4, 4, 21, 59, 59, tzinfo=UTC)  # 23:59:59 in Berlin, summer time


def test_extension_over_a_month_end() -> None:
    due = datetime(2026, 1, 31, 20, 59, 59, tzinfo=UTC)  # end of 31 Jan in Moscow
    assert extended_due_at(due, 30, "Europe/Moscow") == datetime(2026, 3, 2, 20, 59, 59, tzinfo=UTC)


def test_warnings_only_for_instants_still_ahead() -> None:
    due = datetime(2026, 2, 11, 20, 59, 59, tzinfo=UTC)
    offsets = (timedelta(days=3), timedelta(days=1))
    assert warning_times(due, due - timedelta(days=10), offsets) == [
        due - timedelta(days=3),
        due - timedelta(days=1),
    ]
    assert warning_times(due, due - timedelta(days=2), offsets) == [due - timedelta(days=1)]
    assert warning_times(due, due - timedelta(hours=5), offsets) == []


def test_times_are_kept_to_the_millisecond_like_mongodb() -> None:
    assert truncate_ms(datetime(2026, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)).microsecond == 123000
