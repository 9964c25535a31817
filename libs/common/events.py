"""The public event contract: a CloudEvents 1.0 envelope around versioned pydantic payloads.

Rules: only add optional fields to a version; a breaking change is a new `dataversion` of the
same type, registered beside the old one so consumers can move at their own pace.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from cloudevents.core.exceptions import BaseCloudEventException
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError


class EventType(StrEnum):
    # Facts about the appeal, published by intake (the owner of its status).
    APPEAL_SUBMITTED = "appeal.submitted"
    APPEAL_TAKEN = "appeal.taken"
    APPEAL_CLARIFICATION_REQUESTED = "appeal.clarification_requested"
    APPEAL_CLARIFIED = "appeal.clarified"
    APPEAL_ANSWERED = "appeal.answered"
    APPEAL_RATED = "appeal.rated"
    APPEAL_REREVIEW_REQUESTED = "appeal.rereview_requested"
    APPEAL_CLOSED = "appeal.closed"
    # An organisation's first public reply to a social-media incident (docs/routing.md, the centre).
    INCIDENT_RESPONDED = "incident.responded"
    # Requests from intake that routing decides on.
    APPEAL_REASSIGN_REQUESTED = "appeal.reassign_requested"
    APPEAL_ESCALATION_REQUESTED = "appeal.escalation_requested"
    # Decisions of routing.
    APPEAL_ROUTED = "appeal.routed"
    APPEAL_REJECTED = "appeal.rejected"
    # Deadlines.
    DEADLINE_EXTENSION_REQUESTED = "deadline.extension_requested"
    DEADLINE_ARMED = "deadline.armed"
    DEADLINE_WARNING = "deadline.warning"
    DEADLINE_OVERDUE = "deadline.overdue"
    RATING_WINDOW_ENDED = "deadline.rating_window_ended"
    # Polls and public hearings (payloads: libs/common/poll_events.py).
    POLL_PUBLISHED = "poll.published"
    POLL_CLOSED = "poll.closed"
    POLL_CANCELLED = "poll.cancelled"


class TimerKind(StrEnum):
    ANSWER = "answer"
    FIRST_RESPONSE = "first_response"
    RATING_WINDOW = "rating_window"


class RoutingReason(StrEnum):
    INITIAL = "initial"
    REASSIGNMENT = "reassignment"
    ESCALATION = "escalation"
    # Every candidate refused ("not ours"): the regional control centre decides; the answer
    # deadline stays where it was (docs/routing.md).
    TRIAGE = "triage"


class EscalationReason(StrEnum):
    CITIZEN = "citizen"
    LOW_RATING_AFTER_REREVIEW = "low_rating_after_rereview"
    POLICY = "policy"


class ClosedReason(StrEnum):
    RATED = "rated"
    RATING_WINDOW_ENDED = "rating_window_ended"


# Every attribute a published envelope carries: a consumer may rely on each being present.
ENVELOPE_ATTRIBUTES = (
    "specversion",
    "id",
    "type",
    "source",
    "subject",
    "time",
    "datacontenttype",
    "dataversion",
    "correlationid",
    "data",
)
# The media type of a structured-mode CloudEvent in JSON (CloudEvents JSON format, section 3).
STRUCTURED_CONTENT_TYPE = JSONFormat.CONTENT_TYPE


def _require_every_attribute(schema: dict[str, Any]) -> None:
    schema["required"] = sorted(set(schema.get("required", [])) | set(ENVELOPE_ATTRIBUTES))


class Envelope(BaseModel):
    """CloudEvents 1.0 attributes plus the `correlationid` and `dataversion` extensions. The spec
    ("Attribute Naming Convention") allows only `[a-z0-9]` names, so `correlation_id` travels as
    `correlationid`; the old name is still read (envelopes in outboxes and queues stay readable)."""

    model_config = ConfigDict(
        frozen=True,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        json_schema_extra=_require_every_attribute,
    )

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(default_factory=lambda: uuid.uuid4().hex, min_length=1)
    type: str = Field(min_length=1)
    source: str = Field(min_length=1)
    subject: str
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    datacontenttype: Literal["application/json"] = "application/json"
    dataversion: int = 1
    correlation_id: str = Field(
        alias="correlationid", validation_alias=AliasChoices("correlationid", "correlation_id")
    )
    data: dict[str, Any]


class Location(BaseModel):
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    address: str | None = Field(default=None, max_length=500)


class OrganizationRef(BaseModel):
    id: str
    name: str


class SourcePost(BaseModel):
    """Where a monitoring connector found a social-network post that became this appeal."""

    network: str
    url: str
    author_handle: str
    found_at: datetime


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
    source_post: SourcePost | None = None


class AppealRef(BaseModel):
    appeal_id: str
    number: str


class AppealRoutedV1(BaseModel):
    appeal_id: str
    number: str
    topic: str
    organization: OrganizationRef
    rule: str
    answer_sla_days: int
    first_response_sla_hours: int | None = None
    answer_sla_minutes: int | None = None  # dev/demo topics only: minutes instead of calendar days
    timezone: str = "UTC"
    channel: str = "web"
    routed_at: datetime
    reason: RoutingReason = RoutingReason.INITIAL
    escalation_level: int = 0
    previous_organization: OrganizationRef | None = None
    # The municipality (routing's catalogue area) the place lies in, if known: public lists filter by it.
    area_id: str | None = None
    # The place routing found for a raw social-media post (classification or the control centre).
    location: Location | None = None
    # This answered appeal is repeated (same resident, topic, place): its organisation has it again.
    repeat_of: AppealRef | None = None
    # First routing only (clock.answer_due_at, armed as is); a move's deadline is deadlines' to say.
    answer_due_at: datetime | None = None


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
    timezone: str = "UTC"  # the organisation's: show due dates in it
    announced: bool = False  # the first appeal.routed's answer_due_at: intake skips (routing hint)


class DeadlineOverdueV1(BaseModel):
    appeal_id: str
    number: str
    timer: TimerKind
    due_at: datetime
    organization: OrganizationRef
    overdue_at: datetime


class AppealFact(BaseModel):
    """What every lifecycle event of an appeal carries."""

    appeal_id: str
    number: str
    organization: OrganizationRef | None = None
    at: datetime


class AppealTakenV1(AppealFact):
    operator_id: str


class ClarificationRequestedV1(AppealFact):
    operator_id: str
    question: str


class AppealClarifiedV1(AppealFact):
    pass


class AppealAnsweredV1(AppealFact):
    operator_id: str
    text: str
    media_ids: list[str] = []
    round: int = 0  # 0: the first answer; n: after the n-th re-review


class IncidentRespondedV1(AppealFact):
    """The organisation's first public reply to a social-media incident (not the final answer)."""

    operator_id: str
    text: str
    source_post: SourcePost | None = None  # where to post the reply: the original message


class AppealRatedV1(AppealFact):
    score: int = Field(ge=1, le=5)
    round: int = 0


class RereviewRequestedV1(AppealFact):
    round: int = 1


class AppealClosedV1(AppealFact):
    reason: ClosedReason


class ReassignRequestedV1(AppealFact):
    operator_id: str
    reason: str


class EscalationRequestedV1(AppealFact):
    reason: EscalationReason
    escalation_level: int = 0  # the level before the escalation


class DeadlineExtensionRequestedV1(AppealFact):
    operator_id: str
    days: int = Field(ge=1)
    reason: str


class DeadlineWarningV1(BaseModel):
    appeal_id: str
    number: str
    timer: TimerKind
    due_at: datetime
    organization: OrganizationRef
    remaining_hours: int


class RatingWindowEndedV1(BaseModel):
    appeal_id: str
    number: str
    organization: OrganizationRef
    ended_at: datetime


PAYLOADS: dict[tuple[str, int], type[BaseModel]] = {
    (EventType.APPEAL_SUBMITTED, 1): AppealSubmittedV1,
    (EventType.APPEAL_ROUTED, 1): AppealRoutedV1,
    (EventType.APPEAL_REJECTED, 1): AppealRejectedV1,
    (EventType.DEADLINE_ARMED, 1): DeadlineArmedV1,
    (EventType.DEADLINE_OVERDUE, 1): DeadlineOverdueV1,
    (EventType.APPEAL_TAKEN, 1): AppealTakenV1,
    (EventType.APPEAL_CLARIFICATION_REQUESTED, 1): ClarificationRequestedV1,
    (EventType.APPEAL_CLARIFIED, 1): AppealClarifiedV1,
    (EventType.APPEAL_ANSWERED, 1): AppealAnsweredV1,
    (EventType.INCIDENT_RESPONDED, 1): IncidentRespondedV1,
    (EventType.APPEAL_RATED, 1): AppealRatedV1,
    (EventType.APPEAL_REREVIEW_REQUESTED, 1): RereviewRequestedV1,
    (EventType.APPEAL_CLOSED, 1): AppealClosedV1,
    (EventType.APPEAL_REASSIGN_REQUESTED, 1): ReassignRequestedV1,
    (EventType.APPEAL_ESCALATION_REQUESTED, 1): EscalationRequestedV1,
    (EventType.DEADLINE_EXTENSION_REQUESTED, 1): DeadlineExtensionRequestedV1,
    (EventType.DEADLINE_WARNING, 1): DeadlineWarningV1,
    (EventType.RATING_WINDOW_ENDED, 1): RatingWindowEndedV1,
}


class PoisonMessage(Exception):
    """A message that can never be handled: it goes to the dead-letter queue at once."""


def new_event(
    event_type: EventType, payload: BaseModel, *, source: str, subject: str, correlation_id: str
) -> Envelope:
    """A CloudEvents envelope of `payload` (`dataversion` from `PAYLOADS`; `subject`: the aggregate id)."""
    version = next(v for (t, v), model in PAYLOADS.items() if t == event_type and isinstance(payload, model))
    return Envelope(
        type=event_type,
        source=source,
        subject=subject,
        dataversion=version,
        correlation_id=correlation_id,
        data=payload.model_dump(mode="json"),
    )


def to_cloudevent(envelope: Envelope) -> CloudEvent:
    """The envelope as the CloudEvents SDK's event (it checks the 1.0 rules; raises its
    `CloudEventValidationError` for an envelope the spec forbids)."""
    attributes = envelope.model_dump(exclude={"data"})
    attributes["time"] = envelope.time
    return CloudEvent(attributes, envelope.data)


def to_structured(envelope: Envelope) -> bytes:
    """The envelope in CloudEvents structured mode, JSON (UTF-8), written by the SDK so any
    CloudEvents consumer reads it; content type `STRUCTURED_CONTENT_TYPE`."""
    return JSONFormat().write(to_cloudevent(envelope))


def parse_envelope(body: bytes) -> Envelope:
    """A structured-mode CloudEvent (JSON, read and validated by the SDK) as our envelope; one of
    the previous format (`correlation_id`) is read by our model only, so nothing in flight is lost.
    Raises `PoisonMessage` for a body that is not JSON, breaks CloudEvents 1.0 or lacks our attributes."""
    try:
        raw = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PoisonMessage(f"not a valid event envelope: not JSON ({exc})") from exc
    if not isinstance(raw, dict):
        raise PoisonMessage("not a valid event envelope: not a JSON object")
    try:
        if "correlation_id" not in raw:
            event = JSONFormat().read(CloudEvent, body)
            raw = {**event.get_attributes(), "data": event.get_data()}
        return Envelope.model_validate(raw)
    except BaseCloudEventException as exc:
        raise PoisonMessage(f"not a valid CloudEvent: {exc}") from exc
    except ValidationError as exc:
        raise PoisonMessage(f"not a valid event envelope: {exc.errors(include_url=False)[:3]}") from exc
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. a `time` that is not RFC 3339
        raise PoisonMessage(f"not a valid CloudEvent: {exc}") from exc


def decode_payload(envelope: Envelope) -> BaseModel:
    """The envelope's `data` as its registered payload model; raises PoisonMessage (dead-lettered,
    never retried) for an unknown type/version or data that does not validate."""
    model = PAYLOADS.get((envelope.type, envelope.dataversion))
    if model is None:
        raise PoisonMessage(f"unknown event type/version {envelope.type} v{envelope.dataversion}")
    try:
        return model.model_validate(envelope.data)
    except ValidationError as exc:
        raise PoisonMessage(
            f"invalid {envelope.type} v{envelope.dataversion} data: {exc.errors(include_url=False)[:3]}"
        ) from exc


# Polls and public hearings: their payloads live in their own module (imported here, at the end,
# because it imports from this one).
from libs.common.poll_events import POLL_PAYLOADS  # noqa: E402

PAYLOADS.update(POLL_PAYLOADS)
