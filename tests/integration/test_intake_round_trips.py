"""Intake's consumer path on a real store (MongoDB wire protocol): the first event of an appeal
this process just accepted is decided on the copy the submit inserted (`Aggregate`, "Just
inserted"), so `appeal.routed` costs one guarded update and no read (issue #18), counted as the
bench counts commands (`appeals_store_commands_total`)."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime

import httpx
import pytest

from libs.common.aggregate import Aggregate
from libs.common.auth import Principal, Role
from libs.common.clock import system_clock
from libs.common.events import AppealRoutedV1, Envelope, EventType, OrganizationRef, new_event
from libs.common.outbox import OutboxRelay
from libs.common.store import open_store
from services.intake import steps
from services.intake.actions import AppealWriter
from services.intake.flows import AppealFlows
from services.intake.gateway.clients import InternalClients
from services.intake.records import APPEALS
from services.intake.schemas import AppealCreate, AppealStatus
from services.intake.settings import IntakeSettings
from tests.infra import store_commands
from tests.unit.bus_fakes import RecordingBus

pytestmark = pytest.mark.integration

TOPIC = "landscaping.street_lighting"
DUE = datetime(2026, 12, 21, 20, 59, 59, tzinfo=UTC)


def routed(appeal: dict[str, str]) -> Envelope:
    payload = AppealRoutedV1(
        appeal_id=appeal["_id"],
        number=appeal["number"],
        topic=TOPIC,
        organization=OrganizationRef(id="city-admin", name="Администрация города"),
        rule="topic",
        answer_sla_days=20,
        routed_at=datetime.now(UTC),
        answer_due_at=DUE,  # a first routing: it announces the due date
    )
    return new_event(
        EventType.APPEAL_ROUTED, payload, source="routing", subject=appeal["_id"], correlation_id="t"
    )


async def test_routed_after_this_process_accepted_the_appeal_is_one_update_without_a_read(
    mongo_url: str,
) -> None:
    store = open_store(mongo_url, f"intake_trips_{uuid.uuid4().hex[:8]}")
    topics = httpx.MockTransport(
        lambda request: httpx.Response(200, json=[{"code": TOPIC, "name": "Освещение"}])
    )
    settings = IntakeSettings(env="dev")
    upstream = InternalClients(settings, topics)
    try:
        relay = OutboxRelay(store.db, [APPEALS], RecordingBus())  # type: ignore[arg-type]
        appeals = Aggregate(store.db, APPEALS, relay)  # what services/intake/app.py gives both
        flows = AppealFlows(store.db, appeals, system_clock, upstream, settings.max_media_per_appeal)
        writer = AppealWriter(store.db, appeals, system_clock)
        await flows.ensure_indexes()
        body = AppealCreate(
            kind="complaint",
            topic=TOPIC,
            summary="Не горит фонарь",
            description="Фонарь у дома 5 не горит вторую неделю.",
            location={"lat": 57.65, "lon": 43.77, "address": "ул. Ленина, 5"},
            contact={"email": "citizen@example.org"},
        )
        appeal, _ = await flows.submit(Principal(sub="citizen-1", role=Role.CITIZEN), body, None, "t")
        before = store_commands()
        await writer.apply(routed(appeal), steps.routed(AppealRoutedV1.model_validate(routed(appeal).data)))
        sent = store_commands() - before
        assert sent == Counter({"update": 1}), sent
        stored = await store.db[APPEALS].find_one({"_id": appeal["_id"]})
        assert stored is not None and stored["status"] == AppealStatus.ROUTED
        assert stored["organization"]["id"] == "city-admin"
        # The due date too, in the same write: the deadline.armed confirming it is not sent here.
        assert stored["due_at"].replace(tzinfo=UTC) == DUE

        # Another writer came first (a second replica, an operator): the copy is stale, the
        # version guard refuses it and the record is read and decided again.
        other, _ = await flows.submit(Principal(sub="citizen-2", role=Role.CITIZEN), body, None, "t")
        await store.db[APPEALS].update_one({"_id": other["_id"]}, {"$inc": {"version": 1}})
        event = routed(other)
        before = store_commands()
        await writer.apply(event, steps.routed(AppealRoutedV1.model_validate(event.data)))
        sent = store_commands() - before
        assert sent["find"] == 1 and sent["update"] == 2, sent
        stored = await store.db[APPEALS].find_one({"_id": other["_id"]})
        assert stored is not None and stored["status"] == AppealStatus.ROUTED
        assert stored["applied"] == [event.id]
        await store.db.client.drop_database(store.db.name)
    finally:
        await upstream.close()
        await store.close()
