"""The regional control centre's figures (issue #17): a known set of social-media incidents and the
numbers computed by hand, per organisation and per municipality, for one month."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from libs.common.contracts.deadlines import CentreGroup
from libs.common.events import OrganizationRef
from services.deadlines.centre import month_bounds, table
from services.deadlines.schemas import Assignment
from services.deadlines.stats import in_period

KRASNOBOR = OrganizationRef(id="krasnobor-admin", name="Администрация Красноборского района")
CITY = OrganizationRef(id="city-admin", name="Администрация города Демоград")


def post(
    org: OrganizationRef,
    day: int,
    sla: int,
    responded_after_h: float | None,
    answered: bool = False,
    repeat: bool = False,
    month: int = 5,
    channel: str = "social",
) -> Assignment:
    received = datetime(2026, month, day, 10, 0, tzinfo=UTC)
    area = "krasnoborsky" if org is KRASNOBOR else "demograd"
    return Assignment(
        organization=org,
        topic="roads.potholes",
        received_at=received,
        area_id=area,
        channel=channel,
        first_response_sla_hours=sla,
        repeat=repeat,
        first_response_at=received + timedelta(hours=responded_after_h)
        if responded_after_h is not None
        else None,
        answered_at=received + timedelta(days=3) if answered else None,
    )


RECORDS = [
    post(KRASNOBOR, 1, 8, 2, answered=True),  # on time
    post(KRASNOBOR, 2, 8, 10),  # late, not answered
    post(KRASNOBOR, 3, 4, 3, answered=True, repeat=True),  # on time, but a repeat
    post(KRASNOBOR, 4, 8, None),  # no reply yet
    post(CITY, 10, 9, 1, answered=True),
    post(CITY, 11, 9, 9, answered=True),  # exactly at the deadline: on time
    post(KRASNOBOR, 1, 8, 1, month=6),  # another month
    post(KRASNOBOR, 5, 8, 50, channel="web"),  # not a social-media incident
]


def may() -> list[Assignment]:
    start, end = month_bounds("2026-05")
    return in_period(RECORDS, start, end)


def test_figures_per_organisation_match_the_hand_computed_ones() -> None:
    city, krasnobor = table(may(), CentreGroup.ORGANIZATION)
    # Hand: the city 2 posts, both replied in time (1 h, 9 h): 100 %, mean 5, median 5, answered 100 %.
    assert (city.rank, city.organization, city.posts) == (1, CITY, 2)
    assert (city.responded_on_time, city.responded_on_time_pct) == (2, 100.0)
    assert (city.first_response_mean_hours, city.first_response_median_hours) == (5.0, 5.0)
    assert (city.answered_pct, city.repeats, city.score_pct) == (100.0, 0, 100.0)
    # Hand: Krasnobor 4 posts; in time 2 (2 h, 3 h), late 1 (10 h), none 1 → 50 %;
    # mean of 2, 10, 3 = 5, median 3; answered 2 of 4 = 50 %; one repeat → score (2 - 1) / 4 = 25 %.
    assert (krasnobor.rank, krasnobor.posts, krasnobor.responded_on_time) == (2, 4, 2)
    assert krasnobor.responded_on_time_pct == 50.0
    assert (krasnobor.first_response_mean_hours, krasnobor.first_response_median_hours) == (5.0, 3.0)
    assert (krasnobor.answered, krasnobor.answered_pct) == (2, 50.0)
    assert (krasnobor.repeats, krasnobor.score_pct) == (1, 25.0)


def test_figures_per_municipality_and_the_public_threshold() -> None:
    by_area = table(may(), CentreGroup.AREA)
    assert [(row.rank, row.area_id, row.posts) for row in by_area] == [
        (1, "demograd", 2),
        (2, "krasnoborsky", 4),
    ]
    assert all(row.organization is None for row in by_area)
    (only,) = table(may(), CentreGroup.ORGANIZATION, min_posts=3)  # the public table leaves small ones out
    assert only.organization == KRASNOBOR and only.rank == 1


def test_months_are_calendar_months() -> None:
    assert month_bounds("2026-12") == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match=r"unconverted data|does not match"):
        month_bounds("2026-13")
