"""The public event contract: a CloudEvents 1.0 envelope around versioned pydantic payloads.

Rules: only add optional fields to a version; a breaking change is a new `dataversion` of the
same type, registered beside the old one so consumers can move at their own pace.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class EventType(StrEnum):
    APPEAL_SUBMITTED = "appeal.submitted"
    APPEAL_ROUTED = "appeal.routed"
    APPEAL_REJECTED = "appeal.rejected"
    DEADLINE_ARMED = "deadline.armed"
    DEADLINE_OVERDUE = "deadline.overdue"


class TimerKind(StrEnum):
    ANSWER = "answer"
    FIRST_RESPONSE = "first_response"


class Envelope(BaseModel):
    """CloudEvents 1.0 attributes plus `correlation_id` and the `dataversion` extension."""

    model_config = ConfigDict(frozen=True)

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    type: str
    source: str
    subject: str
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    datacontenttype: Literal["application/json"] = "application/json"
    dataversion: int = 1
    correlation_id: str
    data: dict[str, Any]


class Location(BaseModel):
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    address: str | None = Field(default=None, max_length=500)


class OrganizationRef(BaseModel):
    id: str
    name: str


class AppealSubmittedV1(BaseModel):
    appeal_id: str
    number: str
    kind: str
    channel: str
    topic: str
    summary: str
    description: str
    location: Location
    media_ids: list[str] = []
    author_id: str
    # Personal data: only notify keeps it, to reach the author. Never logged.
    contact_email: str | None = None
    lang: str = "ru"
    submitted_at: datetime


class AppealRoutedV1(BaseModel):
    appeal_id: str
    number: str
    topic: str
    organization: OrganizationRef
    rule: str
    answer_sla_days: int
    first_response_sla_hours: int | None = None
    timezone: str = "UTC"
    channel: str = "web"
    routed_at: datetime


class AppealRejectedV1(BaseModel):
    appeal_id: str
    number: str
    reason_code: str
    reason: str
    rejected_at: datetime


class DeadlineArmedV1(BaseModel):
    appeal_id: str
    number: str
    timer: TimerKind
    due_at: datetime
    organization: OrganizationRef
    armed_at: datetime


class DeadlineOverdueV1(BaseModel):
    appeal_id: str
    number: str
    timer: TimerKind
    due_at: datetime
    organization: OrganizationRef
    overdue_at: datetime


PAYLOADS: dict[tuple[str, int], type[BaseModel]] = {
    (EventType.APPEAL_SUBMITTED, 1): AppealSubmittedV1,
    (EventType.APPEAL_ROUTED, 1): AppealRoutedV1,
    (EventType.APPEAL_REJECTED, 1): AppealRejectedV1,
    (EventType.DEADLINE_ARMED, 1): DeadlineArmedV1,
    (EventType.DEADLINE_OVERDUE, 1): DeadlineOverdueV1,
}


class PoisonMessage(Exception):
    """A message that can never be handled: it goes to the dead-letter queue at once."""


def new_event(
    event_type: EventType, payload: BaseModel, *, source: str, subject: str, correlation_id: str
) -> Envelope:
    version = next(v for (t, v), model in PAYLOADS.items() if t == event_type and isinstance(payload, model))
    return Envelope(
        type=event_type,
        source=source,
        subject=subject,
        dataversion=version,
        correlation_id=correlation_id,
        data=payload.model_dump(mode="json"),
    )


def parse_envelope(body: bytes) -> Envelope:
    try:
        return Envelope.model_validate_json(body)
    except ValidationError as exc:
        raise PoisonMessage(f"not a valid event envelope: {exc.errors(include_url=False)[:3]}") from exc


def decode_payload(envelope: Envelope) -> BaseModel:
    model = PAYLOADS.get((envelope.type, envelope.dataversion))
    if model is None:
        raise PoisonMessage(f"unknown event type/version {envelope.type} v{envelope.dataversion}")
    try:
        return model.model_validate(envelope.data)
    except ValidationError as exc:
        raise PoisonMessage(
            f"invalid {envelope.type} v{envelope.dataversion} data: {exc.errors(include_url=False)[:3]}"
        ) from exc
