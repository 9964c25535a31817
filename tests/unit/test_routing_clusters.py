"""Duplicates: appeals of one topic close in place and time form a cluster; the public summary."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.unit.test_routing_flows import harness

# Points in Демоград: A, B ~110 m apart, C ~220 m from A; FAR ~1.1 km away.
A = (57.6500, 43.7700)
B = (57.6510, 43.7700)
C = (57.6500, 43.7737)
FAR = (57.6600, 43.7700)
TEXTS = [(f"Не горит фонарь {i}", f"Фонарь номер {i} у дома не горит уже неделю") for i in range(10)]


async def test_nearby_appeals_on_one_topic_form_a_cluster_and_others_do_not() -> None:
    h = await harness(cluster_radius_m=300, cluster_window_days=14)
    first = await h.submit(h.submitted(text=TEXTS[0], lat=A[0], lon=A[1]))
    assert first["cluster_id"] is None
    second = await h.submit(h.submitted(text=TEXTS[1], lat=B[0], lon=B[1]))
    assert second["cluster_id"] == f"cl-{second['_id']}"
    third = await h.submit(h.submitted(text=TEXTS[2], lat=C[0], lon=C[1], author="citizen-2"))
    assert third["cluster_id"] == second["cluster_id"]
    far = await h.submit(h.submitted(text=TEXTS[3], lat=FAR[0], lon=FAR[1]))
    other_topic = await h.submit(
        h.submitted(topic="roads.potholes", text=("Яма", "Яма на дороге у фонаря"), lat=A[0], lon=A[1])
    )
    no_point = await h.submit(h.submitted(text=TEXTS[4], lat=None, lon=None, address="Демоград, ул. Мира, 1"))
    assert far["cluster_id"] is None and other_topic["cluster_id"] is None and no_point["cluster_id"] is None
    members = await h.db["assignments"].find({"cluster_id": second["cluster_id"]}).to_list(None)
    assert {m["_id"] for m in members} == {first["_id"], second["_id"], third["_id"]}
    assert await h.clusters.attach(third["_id"]) == second["cluster_id"]  # again: no change
    (cluster,) = await h.db["clusters"].find({}).to_list(None)
    assert len(cluster["members"]) == 3


async def test_appeals_outside_the_time_window_do_not_join() -> None:
    h = await harness(cluster_window_days=14)
    await h.submit(h.submitted(text=TEXTS[0], lat=A[0], lon=A[1]))
    h.clock.advance(timedelta(days=15))
    late = await h.submit(h.submitted(text=TEXTS[1], lat=B[0], lon=B[1]))
    assert late["cluster_id"] is None


async def test_operators_see_their_organisations_clusters_and_the_public_sees_counts() -> None:
    h = await harness()
    for i, point in enumerate([A, B, C]):
        await h.submit(h.submitted(text=TEXTS[i], lat=point[0], lon=point[1], author=f"citizen-{i}"))
    await h.submit(
        h.submitted(topic="roads.potholes", text=("Яма", "Яма на дороге у дома"), lat=A[0], lon=A[1])
    )
    mine, total = await h.clusters.clusters("city-admin", None, 10, 0)
    assert total == 1 and mine[0].size == 3 and mine[0].topic == "landscaping.street_lighting"
    assert [m.organization_id for m in mine[0].members] == ["city-admin"] * 3
    assert mine[0].members[0].number == "2026-000001"
    assert (await h.clusters.clusters("dmg-roads", None, 10, 0))[1] == 0
    zones = await h.clusters.problem_zones()
    by_topic = {(z.area_id, z.topic): z for z in zones.zones}
    lamp = by_topic[("demograd", "landscaping.street_lighting")]
    assert (lamp.appeals, lamp.clusters, lamp.area_name) == (3, 1, "Город Демоград")
    assert by_topic[("demograd", "roads.potholes")].appeals == 1
    (hotspot,) = zones.hotspots
    assert hotspot["appeals"] == 3 and hotspot["topic_name"] == "Не работает уличное освещение"
    assert hotspot["center"] == {"lat": 57.650, "lon": 43.771}
    dumped = zones.model_dump_json()
    assert "citizen-" not in dumped and "2026-0000" not in dumped  # no authors, no appeal numbers


async def test_an_appeal_stored_but_not_linked_before_a_crash_is_linked_when_delivered_again() -> None:
    h = await harness()
    first = await h.submit(h.submitted(text=TEXTS[0], lat=A[0], lon=A[1]))
    envelope = h.submitted(text=TEXTS[1], lat=B[0], lon=B[1], author="citizen-2")
    attach = h.clusters.attach

    async def crash(appeal_id: str, inserted: object = None) -> None:
        raise ConnectionError("the process died after storing the decision")

    h.clusters.attach = crash  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        await h.submit(envelope)
    h.clusters.attach = attach  # type: ignore[method-assign]
    stored = await h.db["assignments"].find_one({"_id": envelope.subject})
    assert stored is not None and stored["cluster_id"] is None
    again = await h.submit(envelope)  # the broker delivers it again: decided once, linked now
    assert again["cluster_id"] == f"cl-{again['_id']}" and len(h.bus.of("appeal.routed")) == 2
    neighbour = await h.db["assignments"].find_one({"_id": first["_id"]})
    assert neighbour is not None and neighbour["cluster_id"] == again["cluster_id"]
    assert await h.clusters.attach(again["_id"]) == again["cluster_id"]  # and again: no change
    (cluster,) = await h.db["clusters"].find({}).to_list(None)
    assert sorted(cluster["members"]) == sorted([first["_id"], again["_id"]])
