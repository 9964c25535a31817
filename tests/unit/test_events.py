import json
import re
from datetime import UTC, datetime
from enum import StrEnum
from types import UnionType
from typing import Any, Union, get_args, get_origin

import pytest
from cloudevents.core.bindings import rabbitmq
from cloudevents.core.bindings.rabbitmq import RabbitMQMessage
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from pydantic import BaseModel

from libs.common.events import (
    ENVELOPE_ATTRIBUTES,
    PAYLOADS,
    STRUCTURED_CONTENT_TYPE,
    AppealRejectedV1,
    Envelope,
    EventType,
    PoisonMessage,
    decode_payload,
    new_event,
    parse_envelope,
    to_cloudevent,
    to_structured,
)
from libs.common.outbox import entry_envelope


def rejected() -> AppealRejectedV1:
    return AppealRejectedV1(
        appeal_id="a1", number="2026-000001", reason_code="x", reason="y", rejected_at=datetime.now(UTC)
    )


def test_envelope_carries_cloudevents_attributes_and_round_trips() -> None:
    envelope = new_event(
        EventType.APPEAL_REJECTED, rejected(), source="routing", subject="a1", correlation_id="c1"
    )
    assert envelope.specversion == "1.0"
    assert (envelope.type, envelope.source, envelope.subject, envelope.dataversion) == (
        "appeal.rejected",
        "routing",
        "a1",
        1,
    )
    parsed = parse_envelope(envelope.model_dump_json().encode())
    payload = decode_payload(parsed)
    assert isinstance(payload, AppealRejectedV1)
    assert (payload.appeal_id, payload.reason) == ("a1", "y")


@pytest.mark.parametrize("body", [b"{not json", b"[]", b'{"type": "appeal.routed"}'])
def test_malformed_messages_are_poison(body: bytes) -> None:
    with pytest.raises(PoisonMessage):
        parse_envelope(body)


def test_unknown_version_and_bad_data_are_poison() -> None:
    envelope = new_event(EventType.APPEAL_REJECTED, rejected(), source="t", subject="a1", correlation_id="c")
    with pytest.raises(PoisonMessage, match="unknown event type/version"):
        decode_payload(envelope.model_copy(update={"dataversion": 99}))
    with pytest.raises(PoisonMessage, match=r"invalid appeal\.rejected"):
        decode_payload(envelope.model_copy(update={"data": {"appeal_id": "a1"}}))


# -- CloudEvents 1.0, as the official SDK reads it ------------------------------------------------


def sample(model: type[BaseModel]) -> BaseModel:
    """A valid instance of a payload model, every required field filled by its type."""

    def value(annotation: Any) -> Any:
        options = [option for option in get_args(annotation) if option is not type(None)]
        if get_origin(annotation) in (Union, UnionType):
            return value(options[0])
        if get_origin(annotation) is list:
            return []
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return sample(annotation)
        if isinstance(annotation, type) and issubclass(annotation, StrEnum):
            return next(iter(annotation))
        return {str: "x", int: 3, float: 1.5, bool: True, datetime: datetime.now(UTC)}[annotation]

    fields = {
        name: value(field.annotation) for name, field in model.model_fields.items() if field.is_required()
    }
    return model.model_validate(fields)


def every_event() -> list[Envelope]:
    return [
        new_event(EventType(event_type), sample(model), source="unit", subject="a1", correlation_id="c-1")
        for (event_type, _), model in sorted(PAYLOADS.items())
    ]


def test_every_event_type_is_a_valid_cloudevent_for_the_sdk_in_structured_mode() -> None:
    assert len(every_event()) == len(PAYLOADS)
    for envelope in every_event():
        message = RabbitMQMessage(
            headers={}, content_type=STRUCTURED_CONTENT_TYPE, body=to_structured(envelope)
        )
        event = rabbitmq.from_rabbitmq(message, JSONFormat(), CloudEvent)  # structured: by content type
        assert event.get_specversion() == "1.0"
        assert (event.get_id(), event.get_type(), event.get_source(), event.get_subject()) == (
            envelope.id,
            envelope.type,
            "unit",
            "a1",
        )
        assert event.get_extension("correlationid") == "c-1"
        assert event.get_extension("dataversion") == envelope.dataversion
        assert event.get_data() == envelope.data
        again = parse_envelope(message.body)
        assert again == envelope
        assert isinstance(decode_payload(again), PAYLOADS[(envelope.type, envelope.dataversion)])


def test_every_attribute_name_follows_the_cloudevents_naming_rule() -> None:
    for envelope in every_event():
        attributes = json.loads(to_structured(envelope))
        assert set(attributes) == set(ENVELOPE_ATTRIBUTES)
        assert all(re.fullmatch(r"[a-z0-9]{1,20}", name) for name in attributes if name != "data")


def test_the_sdk_also_reads_our_events_in_binary_mode() -> None:
    """We publish structured mode; a bridge that re-publishes binary mode loses nothing."""
    for envelope in every_event():
        binary = rabbitmq.to_binary(to_cloudevent(envelope), JSONFormat())
        event = rabbitmq.from_rabbitmq(binary, JSONFormat(), CloudEvent)
        # Binary mode carries every attribute as a string header (the RabbitMQ binding's rule).
        assert event.get_extension("dataversion") == str(envelope.dataversion)
        assert Envelope.model_validate({**event.get_attributes(), "data": event.get_data()}) == envelope


def test_an_envelope_of_the_old_format_is_still_read() -> None:
    """Envelopes stored or queued before the rename (`correlation_id`) must not be lost."""
    envelope = every_event()[0]
    old = json.loads(to_structured(envelope))
    old["correlation_id"] = old.pop("correlationid")
    parsed = parse_envelope(json.dumps(old).encode())
    assert parsed.correlation_id == "c-1"
    assert parsed == envelope
    assert entry_envelope({**old, "_headers": {}}) == envelope


@pytest.mark.parametrize(
    "change",
    [
        {"specversion": "0.1"},
        {"id": ""},
        {"source": ""},
        {"time": "yesterday"},
        {"bad_name": "x"},  # CloudEvents forbids '_' in attribute names
    ],
)
def test_what_the_spec_forbids_is_poison(change: dict[str, Any]) -> None:
    body = json.loads(to_structured(every_event()[0]))
    with pytest.raises(PoisonMessage):
        parse_envelope(json.dumps({**body, **change}).encode())
