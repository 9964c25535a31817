from datetime import UTC, datetime

from services.notify.service import format_due


def test_due_dates_are_shown_in_the_organisations_time_zone() -> None:
    # End of 11 March in Moscow is 20:59:59 UTC the same day; end of 11 March in New York is
    # already 12 March in UTC, and must still read as the 11th.
    assert format_due(datetime(2026, 3, 11, 20, 59, 59, tzinfo=UTC), "Europe/Moscow") == "11.03.2026"
    assert format_due(datetime(2026, 3, 12, 3, 59, 59, tzinfo=UTC), "America/New_York") == "11.03.2026"
    assert format_due(datetime(2026, 3, 12, 23, 59, 59, tzinfo=UTC)) == "12.03.2026"


def test_a_deadline_that_does_not_end_the_day_shows_its_time() -> None:
    # the demo's one-minute deadline, and a due date a clarification's pause moved
    assert format_due(datetime(2026, 11, 30, 19, 26, 5, tzinfo=UTC), "Europe/Moscow") == "30.11.2026 22:26"
    assert format_due(datetime(2026, 12, 20, 21, 0, 1, tzinfo=UTC), "Europe/Moscow") == "21.12.2026 00:00"
