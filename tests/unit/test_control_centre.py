"""The regional control centre (issue #17), in routing: raw social-media posts classified by
keywords (Russian morphology) and the gazetteer, the triage queue's one-step decisions, and repeat
appeals linked to the answered one and sent to the same organisation."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from libs.common.contracts.routing import (
    ModerationDecision,
    ModerationDecisionIn,
    TriageDecisionIn,
    TriagePlaceIn,
)
from libs.common.events import (
    AppealAnsweredV1,
    AppealSubmittedV1,
    Envelope,
    EventType,
    SourcePost,
    new_event,
)
from libs.common.http import Problem
from services.routing.classify import classifier, lemmas
from services.routing.handlers import handlers
from tests.unit.test_routing_flows import START, Harness, harness

POTHOLE = "Огромная яма на улице Ленина в Абазе возле центральной бани, уже месяц объезжаем"
VAGUE = "Все наши дороги ужасные! Когда это кончится?"
OBSCENE = "Опять эта бл*дская дорога, пиздец просто"


def post(
    h: Harness, text: str, handle: str = "ivan_abaza", lat: float | None = None, lon: float | None = None
) -> Envelope:
    """A raw post as intake hands it on: no topic, the connector's geotag if any."""
    envelope = h.submitted(topic="", text=(text[:60], text), lat=lat, lon=lon, channel="social")
    data = {
        **envelope.data,
        "author_id": "connector-1",
        "source_post": SourcePost(
            network="vk",
            url=f"https://vk.com/wall-1_{envelope.subject}",
            author_handle=handle,
            found_at=START,
        ).model_dump(mode="json"),
    }
    return envelope.model_copy(update={"data": data})


async def submit(h: Harness, envelope: Envelope) -> dict[str, Any]:
    await h.flows.route_submitted(envelope, AppealSubmittedV1.model_validate(envelope.data))
    return (await h.flows.assignment(envelope.subject)).model_dump()


def test_the_forms_of_a_word_match_its_keyword() -> None:
    for form in ("ямы", "яму", "ямой", "ямами", "Яме"):
        assert lemmas(form) & lemmas("яма"), form


async def test_a_concrete_post_is_classified_and_routed_with_a_first_response_deadline() -> None:
    h = await harness()
    doc = await submit(h, post(h, POTHOLE))
    assert doc["status"] == "routed" and doc["topic"] == "roads.potholes"
    assert doc["area_id"] == "krasnoborsky" and doc["organization"]["id"] == "krasnobor-admin"
    (routed,) = h.bus.of(EventType.APPEAL_ROUTED)
    assert routed["topic"] == "roads.potholes" and routed["first_response_sla_hours"] == 8
    assert routed["location"]["address"] == "улица Ленина, Абаза"
    assert doc["classification"]["matched"] == ["яма"]


async def test_a_geotag_is_a_concrete_place() -> None:
    h = await harness()
    doc = await submit(h, post(h, "Ямы по всей дороге, колесо пробил", lat=57.65, lon=43.77))
    assert doc["status"] == "routed" and doc["area_id"] == "demograd"
    assert doc["classification"]["place"]["located_by"] == "geotag"


async def test_a_vague_post_waits_for_the_centre_which_sets_topic_and_place_in_one_step() -> None:
    h = await harness()
    envelope = post(h, VAGUE)
    doc = await submit(h, envelope)
    assert doc["status"] == "needs_triage" and doc["triage"] == "classification"
    assert not h.bus.published  # nothing routed yet
    (queued,), total = await h.triage.queue(10, 0)
    assert total == 1 and queued["triage"] == "classification" and "author_id" not in queued
    with pytest.raises(Problem) as refused:  # the organisation is not what an unclassified post needs
        await h.triage.decide(envelope.subject, TriageDecisionIn(organization_id="dmg-roads"), "cc-1")
    assert refused.value.status == 422
    decision = TriageDecisionIn(topic="roads.potholes", place=TriagePlaceIn(place_id="lesogorsk.lenina"))
    decided = (await h.triage.decide(envelope.subject, decision, "cc-1")).model_dump()
    assert decided["status"] == "routed" and decided["organization"]["id"] == "lesogorsk-admin"
    (routed,) = h.bus.of(EventType.APPEAL_ROUTED)
    assert routed["topic"] == "roads.potholes" and routed["location"]["address"] == "улица Ленина, Лесогорск"
    assert await h.triage.queue(10, 0) == ([], 0)


async def test_the_centre_may_dismiss_a_post() -> None:
    h = await harness()
    envelope = post(h, VAGUE)
    await submit(h, envelope)
    decided = (await h.triage.decide(envelope.subject, TriageDecisionIn(dismiss=True), "cc-1")).model_dump()
    assert decided["status"] == "rejected"
    assert h.bus.of(EventType.APPEAL_REJECTED)[0]["reason_code"] == "not_an_appeal"


async def test_an_obscene_post_is_rejected_not_classified() -> None:
    h = await harness()
    doc = await submit(h, post(h, OBSCENE + " на улице Ленина в Абазе"))
    assert doc["status"] == "rejected" and doc["classification"] is None


async def test_an_uncertain_topic_waits_for_the_centre() -> None:
    h = await harness()
    doc = await submit(h, post(h, "В подъезде на улице Пушкина в Демограде сломан лифт"))
    assert doc["status"] == "needs_triage"
    assert "uncertain topic" in doc["classification"]["why"]


async def deliver_answer(h: Harness, appeal_id: str, at: datetime) -> None:
    """appeal.answered through routing's own handler (twice: a redelivery changes nothing)."""
    payload = AppealAnsweredV1(appeal_id=appeal_id, number="n", at=at, operator_id="o", text="Починили")
    envelope = new_event(
        EventType.APPEAL_ANSWERED, payload, source="intake", subject=appeal_id, correlation_id="c"
    )
    for _ in range(2):
        await handlers(h.flows)[EventType.APPEAL_ANSWERED](envelope, payload)


async def test_a_repeat_after_an_answer_is_linked_and_goes_to_the_same_organisation() -> None:
    h = await harness()
    lamp = ("Не горит фонарь", "Фонарь у дома 5 на улице Ленина не горит вторую неделю.")
    first = await h.submit(h.submitted(text=lamp, author="citizen-7"))
    # While the first is open, the same text is the 24 h filter's repeat; after an answer it is linked.
    await deliver_answer(h, first["_id"], START + timedelta(days=2))
    h.clock.advance(timedelta(days=5))
    again = ("Снова не горит фонарь", "То горел, то нет. Поэтому пришлось ещё раз обратиться.")
    # Another organisation would normally get it (a rule changed): the repeat still goes back.
    second = await h.submit(h.submitted(text=again, author="citizen-7", lat=57.6502, lon=43.7701))
    assert second["repeat_of"] == {"appeal_id": first["_id"], "number": first["number"]}
    assert second["rule"] == f"repeat:{first['number']}"
    assert second["organization"] == first["organization"]
    assert h.bus.of(EventType.APPEAL_ROUTED)[-1]["repeat_of"]["number"] == first["number"]
    # Someone else, another place, or too long after: not a repeat.
    other = await h.submit(h.submitted(text=again, author="citizen-8"))
    far = await h.submit(h.submitted(text=lamp, author="citizen-7", lat=57.66, lon=43.80))
    assert other.get("repeat_of") is None and far.get("repeat_of") is None
    h.clock.advance(timedelta(days=40))
    late = await h.submit(
        h.submitted(text=("Фонарь", "Фонарь опять не горит, улица Ленина"), author="citizen-7")
    )
    assert late.get("repeat_of") is None


async def test_a_social_repeat_is_the_same_author_on_the_network_not_the_connector() -> None:
    h = await harness()
    first = await submit(h, post(h, POTHOLE))
    await h.flows.answered(str(first["appeal_id"]), START + timedelta(hours=5))
    h.clock.advance(timedelta(days=3))
    again = await submit(h, post(h, "Яму на улице Ленина в Абазе так и не заделали, снова провалился"))
    assert again["repeat_of"]["appeal_id"] == first["appeal_id"]
    stranger = await submit(h, post(h, "Яма на улице Ленина в Абазе, осторожно", handle="petr"))
    assert stranger.get("repeat_of") is None


def test_every_gazetteer_place_lies_in_its_municipality_and_the_demo_has_dozens_of_streets() -> None:
    import asyncio

    h = asyncio.run(harness())
    cc = asyncio.run(h.catalogue.current())
    places = classifier(cc).places.values()
    assert sum(1 for p in places if p.kind == "street") >= 30
    assert {classifier(cc).area_of(p) for p in places} == set(cc.areas)


async def test_a_rude_post_held_for_a_moderator_is_classified_once_approved() -> None:
    h = await harness()
    vague = post(h, "Дороги у нас говно, когда уже сделают")
    concrete = post(h, "Яма на улице Ленина в Абазе, дерьмо а не дорога", handle="petr")
    for envelope in (vague, concrete):
        assert (await submit(h, envelope))["status"] == "held"
    approve = ModerationDecisionIn(decision=ModerationDecision.APPROVE)
    assert (await h.flows.decide_held(vague.subject, approve, "mod-1")).status == "needs_triage"
    decided = (await h.flows.decide_held(concrete.subject, approve, "mod-1")).model_dump()
    assert decided["status"] == "routed" and decided["topic"] == "roads.potholes"
    assert decided["organization"]["id"] == "krasnobor-admin"
    assert [e["topic"] for e in h.bus.of(EventType.APPEAL_ROUTED)] == ["roads.potholes"]
