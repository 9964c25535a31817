"""Poison messages, published straight into each service's queue.

Per service: malformed JSON and an unknown event version (both dead-lettered at once), and a
valid event its handler can never succeed with (dead-lettered after the bounded retries):

| service | always-failing event | why it fails every time |
|---|---|---|
| intake | `deadline.armed` for an unknown appeal | `AppealWriter.record`: LookupError |
| routing | `appeal.reassign_requested` for an unknown appeal | `RoutingFlows._move`: LookupError |
| deadlines | `appeal.taken` for an unknown appeal | `DeadlineFlows.apply`: LookupError |
| notify | `appeal.taken` for an unknown appeal | `NotifyFlows._announce`: RecipientUnknown |
| media | — (no media handler fails on a valid event: `Retention.attach` of unknown ids is a no-op) | instead: valid envelope, invalid `data` (dead-lettered at once) |
| polls | — (unlinking the ballots of an unknown poll is a no-op) | the same: valid envelope, invalid `data` |
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel

from devstack.broker import DeadLetter, drain_dead_letters
from libs.common.events import (
    AppealTakenV1,
    DeadlineArmedV1,
    Envelope,
    EventType,
    OrganizationRef,
    ReassignRequestedV1,
    TimerKind,
    new_event,
)

MALFORMED = b'{"specversion": "1.0", "type": "appeal.submitted", "data": {"appeal_id": '
# An event type each service consumes, sent with a version nobody registered.
HANDLED = {
    "intake": EventType.APPEAL_ROUTED,
    "routing": EventType.APPEAL_SUBMITTED,
    "deadlines": EventType.APPEAL_ROUTED,
    "notify": EventType.APPEAL_SUBMITTED,
    "media": EventType.APPEAL_SUBMITTED,
    "polls": EventType.POLL_CLOSED,
}


@dataclass(frozen=True)
class Poison:
    service: str
    label: str
    message_id: str
    body: bytes
    reason: str  # what the x-dead-letter-reason header must contain
    attempt: int  # the attempt at which it must be parked

    def matches(self, reason: str, attempt: int) -> bool:
        return self.reason in reason and attempt == self.attempt


def _event(event_type: EventType, payload: BaseModel, subject: str) -> bytes:
    envelope = new_event(event_type, payload, source="chaos", subject=subject, correlation_id="chaos-poison")
    return envelope.model_dump_json().encode()


def _failing(service: str, appeal_id: str) -> tuple[str, bytes, str] | None:
    """(label, body, reason) of a valid event the service's handler always fails on."""
    now = datetime.now(UTC)
    number, org = "2026-999999", OrganizationRef(id="chaos-org", name="Chaos")
    taken = AppealTakenV1(
        appeal_id=appeal_id, number=number, organization=org, at=now, operator_id="chaos-op"
    )
    if service == "intake":
        armed = DeadlineArmedV1(
            appeal_id=appeal_id,
            number=number,
            timer=TimerKind.ANSWER,
            due_at=now + timedelta(days=10),
            organization=org,
            armed_at=now,
        )
        return (
            "deadline.armed of an unknown appeal",
            _event(EventType.DEADLINE_ARMED, armed, appeal_id),
            "LookupError",
        )
    if service == "routing":
        move = ReassignRequestedV1(
            appeal_id=appeal_id, number=number, organization=org, at=now, operator_id="chaos-op", reason="x"
        )
        body = _event(EventType.APPEAL_REASSIGN_REQUESTED, move, appeal_id)
        return "reassign of an unknown appeal", body, "LookupError"
    if service == "deadlines":
        return (
            "appeal.taken of an unknown appeal",
            _event(EventType.APPEAL_TAKEN, taken, appeal_id),
            "LookupError",
        )
    if service == "notify":
        body = _event(EventType.APPEAL_TAKEN, taken, appeal_id)
        return "appeal.taken of an unknown appeal", body, "RecipientUnknown"
    return None


def poisons(namespace: str, service: str, max_attempts: int) -> list[Poison]:
    appeal_id = uuid.uuid4().hex

    def named(label: str) -> str:
        return f"{namespace}-poison-{service}-{label.split()[0]}-{uuid.uuid4().hex[:6]}"

    unknown = Envelope(
        type=HANDLED[service],
        source="chaos",
        subject=appeal_id,
        dataversion=99,
        correlation_id="chaos-poison",
        data={"appeal_id": appeal_id},
    )
    found = [
        Poison(service, "malformed JSON", named("malformed"), MALFORMED, "not a valid event envelope", 1),
        Poison(
            service,
            "unknown event version",
            named("version"),
            unknown.model_dump_json().encode(),
            f"unknown event type/version {HANDLED[service]} v99",
            1,
        ),
    ]
    if failing := _failing(service, appeal_id):
        label, body, error = failing
        found.append(
            Poison(
                service,
                label,
                named("failing"),
                body,
                f"gave up after {max_attempts} attempts: {error}",
                max_attempts,
            )
        )
    else:
        invalid = Envelope(
            type=HANDLED[service],
            source="chaos",
            subject=appeal_id,
            correlation_id="chaos-poison",
            data={"appeal_id": appeal_id},
        )
        body = invalid.model_dump_json().encode()
        found.append(
            Poison(
                service,
                "invalid event data",
                named("invalid"),
                body,
                f"invalid {HANDLED[service]} v1 data",
                1,
            )
        )
    return found


def judge_dead_letters(expected: list[Poison], letters: list[DeadLetter]) -> list[str]:
    """What is wrong with the dead letters found, against the poison sent: one missing from its
    `.dlq`, parked with another reason or at another attempt, or a dead letter nobody sent."""
    problems: list[str] = []
    by_id = {letter.message_id: letter for letter in letters}
    for item in expected:
        letter = by_id.pop(item.message_id, None)
        if letter is None:
            problems.append(f"{item.service}: {item.label} not in {item.service}.dlq")
        elif not item.matches(letter.reason, letter.attempt):
            problems.append(
                f"{item.service}: {item.label} parked at attempt {letter.attempt} with {letter.reason!r}"
            )
    return problems + [f"unexpected dead letter {letter}" for letter in by_id.values()]


def dead_letter_reasons(letters: list[DeadLetter]) -> str:
    """ "3× notify: gave up after 5 attempts, 1× routing: ..." (the first words of each reason)."""
    counts = Counter(f"{letter.service}: {letter.reason.split(':')[0][:60]}" for letter in letters)
    return ", ".join(f"{count}× {what}" for what, count in counts.most_common())


async def collect_dead_letters(
    rabbit_url: str, namespace: str, services: Sequence[str], count: int, timeout: float
) -> list[DeadLetter]:
    """Drain the services' dead-letter queues until `count` letters arrived or `timeout` seconds
    passed; returns what arrived."""
    letters: list[DeadLetter] = []
    deadline = time.monotonic() + timeout
    while len(letters) < count and time.monotonic() < deadline:
        letters += await drain_dead_letters(rabbit_url, namespace, services)
        await asyncio.sleep(0.5)
    return letters
