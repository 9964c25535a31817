"""Payloads of the polls service's events, registered in `events.PAYLOADS` (bottom of events.py).

Kept in their own module so the envelope in events.py can change without touching them.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from libs.common.contracts.polls import PollKind, PollResults

POLL_PUBLISHED = "poll.published"
POLL_CLOSED = "poll.closed"
POLL_CANCELLED = "poll.cancelled"


class PollFacts(BaseModel):
    """What every poll event says of its poll (the fields come first in each payload)."""

    poll_id: str
    kind: PollKind
    title: str
    organization_id: str
    area_ids: list[str]


class PollPublishedV1(PollFacts):
    """A poll or public hearing is open (or will open at `opens_at`) for residents of its areas."""

    opens_at: datetime
    closes_at: datetime
    published_at: datetime


class PollClosedV1(PollFacts):
    """A poll closed at its closing time; `results` are final (aggregates only)."""

    closes_at: datetime
    closed_at: datetime
    results: PollResults


class PollCancelledV1(PollFacts):
    """A published poll or public hearing was cancelled by its organisation before it closed: no
    more ballots, no results. (Cancelling a draft announces nothing: it was never published.)"""

    closes_at: datetime
    cancelled_at: datetime


POLL_PAYLOADS: dict[tuple[str, int], type[BaseModel]] = {
    (POLL_PUBLISHED, 1): PollPublishedV1,
    (POLL_CLOSED, 1): PollClosedV1,
    (POLL_CANCELLED, 1): PollCancelledV1,
}
