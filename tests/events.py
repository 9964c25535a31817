"""Events as the tests build them: a valid `appeal.submitted` with only what a test cares about;
and the delivery notify records for one of them, the author's "registered" e-mail."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from libs.common.events import AppealSubmittedV1, Envelope, EventType, Location, new_event
from services.notify.schemas import ChannelName, Delivery


def appeal_submitted(
    media_ids: list[str], *, appeal_id: str | None = None, author_id: str = "author-1"
) -> AppealSubmittedV1:
    """A complaint about a pothole in Moscow naming `media_ids` (a fresh appeal id unless given)."""
    return AppealSubmittedV1(
        appeal_id=appeal_id or uuid.uuid4().hex,
        number="2026-000042",
        kind="complaint",
        channel="web",
        topic="roads",
        summary="Pothole",
        description="A deep pothole",
        location=Location(lat=55.75, lon=37.62),
        media_ids=media_ids,
        author_id=author_id,
        submitted_at=datetime.now(UTC),
    )


def submitted_event(media_ids: list[str], **fields: str) -> Envelope:
    """`appeal_submitted(...)` in its envelope, as intake publishes it."""
    payload = appeal_submitted(media_ids, **fields)
    return new_event(
        EventType.APPEAL_SUBMITTED, payload, source="t", subject=payload.appeal_id, correlation_id="c"
    )


def registered_email(appeal_id: str) -> Delivery:
    """The 'registered' e-mail of one appeal to its author, as notify records it."""
    return Delivery(
        id=f"{appeal_id}:registered:email:citizen",
        key=f"{appeal_id}:registered",
        channel=ChannelName.EMAIL,
        target_id="citizen",
        target={"email": "resident@example.org"},
        appeal_id=appeal_id,
        event_type="appeal.routed",
        kind="registered",
        content={},
    )
