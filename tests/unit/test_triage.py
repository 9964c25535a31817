""" "Not ours" at the last organisation (issue #13 item 11), through routing, deadlines and notify:
no loop, the due date never moves, the control centre's queue is an explicit state, and the
citizen is never told the appeal went "to another organisation" that is the same one."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from libs.common.contracts.routing import TriageDecisionIn
from libs.common.events import (
    AppealRoutedV1,
    EventType,
    OrganizationRef,
    ReassignRequestedV1,
    TimerKind,
    new_event,
)
from libs.common.http import Problem
from services.deadlines import service as deadlines
from services.deadlines.service import Policy
from tests.unit.test_notify_handlers import Notify, submitted
from tests.unit.test_notify_handlers import notify as notify
from tests.unit.test_routing_flows import Harness, harness, reassign_request

POTHOLE = ("Яма", "Глубокая яма на проезжей части")


async def refuse(h: Harness, appeal_id: str) -> None:
    org = (await h.flows.assignment(appeal_id)).model_dump()["organization"]["id"]
    request = reassign_request(appeal_id, org)
    await h.flows.reassign(request, ReassignRequestedV1.model_validate(request.data))


def routed_events(h: Harness, appeal_id: str) -> list[AppealRoutedV1]:
    return [AppealRoutedV1.model_validate(data) for data in h.bus.of(EventType.APPEAL_ROUTED, appeal_id)]


async def test_when_everyone_refused_the_appeal_waits_for_the_control_centre_and_stops_moving() -> None:
    h = await harness()
    appeal = await h.submit(h.submitted(topic="roads.potholes", text=POTHOLE))
    for _ in range(3):  # dmg-roads, city-admin, regional-roads refuse in turn
        await refuse(h, appeal["_id"])
    assert (await h.flows.assignment(appeal["_id"])).status == "routed"
    await refuse(h, appeal["_id"])  # the last candidate refuses too
    doc = (await h.flows.assignment(appeal["_id"])).model_dump()
    assert doc["status"] == "needs_triage" and doc["rule"] == "reassignment:exhausted"
    last = routed_events(h, appeal["_id"])[-1]
    assert last.reason == "triage" and last.organization.id == "region-admin"
    published = len(h.bus.published)
    for _ in range(5):  # further "not ours" change nothing: no loop, no event
        request = reassign_request(appeal["_id"], "region-admin")
        await h.flows.reassign(request, ReassignRequestedV1.model_validate(request.data))
    assert len(h.bus.published) == published
    assert (await h.flows.assignment(appeal["_id"])).status == "needs_triage"

    items, total = await h.triage.queue(10, 0)
    assert total == 1 and items[0]["_id"] == appeal["_id"] and "author_id" not in items[0]


async def test_the_control_centre_names_who_answers() -> None:
    h = await harness()
    appeal = await h.submit(h.submitted(topic="roads.potholes", text=POTHOLE))
    with pytest.raises(Problem) as not_waiting:
        await h.triage.decide(appeal["_id"], TriageDecisionIn(organization_id="dmg-roads"), "cc-1")
    assert not_waiting.value.status == 409
    for _ in range(4):
        await refuse(h, appeal["_id"])
    with pytest.raises(Problem) as unknown:
        await h.triage.decide(appeal["_id"], TriageDecisionIn(organization_id="nobody"), "cc-1")
    assert unknown.value.status == 422
    decided = (
        await h.triage.decide(
            appeal["_id"], TriageDecisionIn(organization_id="dmg-roads", comment="это ваша дорога"), "cc-1"
        )
    ).model_dump()
    assert decided["status"] == "routed" and decided["organization"]["id"] == "dmg-roads"
    assert decided["history"][-1]["actor"] == "control-centre:cc-1"
    last = routed_events(h, appeal["_id"])[-1]
    assert last.reason == "reassignment" and last.previous_organization is not None
    assert last.previous_organization.id == "region-admin"
    assert await h.triage.queue(10, 0) == ([], 0)


async def test_the_answer_deadline_never_moves_through_all_the_refusals() -> None:
    h = await harness()
    appeal = await h.submit(h.submitted(topic="roads.potholes", text=POTHOLE))
    for _ in range(6):
        h.clock.advance(timedelta(days=3))
        await refuse(h, appeal["_id"])
    policy = Policy()
    clock = None
    dues = []
    for event in routed_events(h, appeal["_id"]):  # what deadlines receives, in order
        outcome = deadlines.routed(clock, event, "c", event.routed_at, policy)
        clock = outcome.clock
        dues.append(clock.timer(TimerKind.ANSWER).due_at)  # type: ignore[union-attr]
    assert len(dues) == 5  # initial, three moves, the control centre; then nothing
    assert len(set(dues)) == 1, dues  # the first routing's due date, kept by every move


def routed_event(reason: str, org: OrganizationRef, previous: OrganizationRef | None) -> Any:
    payload = AppealRoutedV1(
        appeal_id="a1",
        number="2026-000123",
        topic="roads",
        organization=org,
        rule="r",
        answer_sla_days=10,
        routed_at=submitted().time,
        reason=reason,
        previous_organization=previous,
    )
    return new_event(EventType.APPEAL_ROUTED, payload, source="routing", subject="a1", correlation_id="c1")


CC = OrganizationRef(id="region-admin", name="Правительство области")
ROADS = OrganizationRef(id="dmg-roads", name="Дорожная служба")


async def test_the_citizen_is_told_about_the_control_centre_not_another_organisation(
    notify: Notify,
) -> None:
    await notify.deliver(submitted())
    await notify.deliver(routed_event("initial", ROADS, None))
    await notify.deliver(routed_event("triage", CC, ROADS))
    [item] = await notify.feed()
    assert item["kind"] == "control_centre"
    assert "региональный центр управления" in item["title"]
    assert "другую организацию" not in item["title"] + item["body"]
    assert "Срок ответа остаётся прежним" in item["body"]


async def test_no_transfer_message_naming_the_same_organisation(notify: Notify) -> None:
    await notify.deliver(submitted())
    await notify.deliver(routed_event("reassignment", CC, CC))
    assert await notify.feed() == []
    await notify.deliver(routed_event("reassignment", ROADS, CC))
    [item] = await notify.feed()
    assert item["kind"] == "transferred" and "в Дорожную службу." in item["body"]
