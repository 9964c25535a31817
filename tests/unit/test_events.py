from datetime import UTC, datetime

import pytest

from libs.common.events import (
    AppealRejectedV1,
    EventType,
    PoisonMessage,
    decode_payload,
    new_event,
    parse_envelope,
)


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
