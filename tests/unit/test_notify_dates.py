from datetime import UTC, datetime

from services.notify.service import format_date


def test_due_dates_are_shown_in_the_organisations_time_zone() -> None:
    # End of 11 March in Moscow is 20:59:59 UTC the same day; end of 11 March in New York is
    # already 12 March in UTC, and must still read as the 11th.
    assert format_date(datetime(2026, 3, 11, 20, 59, 59, tzinfo=UTC), "Europe/Moscow") == "11.03.2026"
    assert format_date(datetime(2026, 3, 12, 3, 59, 59, tzinfo=UTC), "America/New_York") == "11.03.2026"
    assert format_date(datetime(2026, 3, 12, 3, 59, 59, tzinfo=UTC)) == "12.03.2026"
