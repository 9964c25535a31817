from datetime import UTC, datetime

from services.deadlines.service import answer_due_at, first_response_due_at


def test_answer_due_at_end_of_last_calendar_day_in_org_time_zone() -> None:
    # 22:30 UTC on 31 Jan is already 1 Feb in Moscow (UTC+3): 10 days from 1 Feb is 11 Feb.
    start = datetime(2026, 1, 31, 22, 30, tzinfo=UTC)
    due = answer_due_at(start, 10, "Europe/Moscow")
    assert due == datetime(2026, 2, 11, 20, 59, 59, tzinfo=UTC)


def test_answer_due_crosses_month_end_and_leap_day() -> None:
    due = answer_due_at(datetime(2028, 2, 20, 9, 0, tzinfo=UTC), 10, "UTC")
    assert due == datetime(2028, 3, 1, 23, 59, 59, tzinfo=UTC)


def test_answer_due_follows_daylight_saving_of_the_zone() -> None:
    # Berlin switches to summer time on 29 Mar 2026: end of 30 Mar local is 21:59:59 UTC.
    due = answer_due_at(datetime(2026, 3, 20, 12, 0, tzinfo=UTC), 10, "Europe/Berlin")
    assert due == datetime(2026, 3, 30, 21, 59, 59, tzinfo=UTC)


def test_first_response_in_hours() -> None:
    start = datetime(2026, 5, 1, 23, 0, tzinfo=UTC)
    assert first_response_due_at(start, 4) == datetime(2026, 5, 2, 3, 0, tzinfo=UTC)
