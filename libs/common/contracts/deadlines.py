"""Deadlines' internal statistics contract (`/internal/stats/...` of services/deadlines/routes.py),
shared with the gateway's deadlines client and statistics routes (services/intake/gateway/).

The tables themselves pass through the gateway as deadlines writes them (the gateway only filters
an operator's rows and masks the public ones); what both sides must agree on is the query.
"""

from __future__ import annotations

from enum import StrEnum

# `month` of `/internal/stats/centre`: one calendar month in UTC.
MONTH_PATTERN = r"^\d{4}-\d{2}$"


class RankOrder(StrEnum):
    """`order_by` of `/internal/stats/public`."""

    ANSWERED = "answered"  # share answered on time first, then speed
    SPEED = "speed"  # median time to answer first


class CentreGroup(StrEnum):
    """`by` of `/internal/stats/centre`: the control centre's figures per organisation or area."""

    ORGANIZATION = "organization"
    AREA = "area"  # the municipality
