"""The gateway's admin / clusters / problem-zones routes, forwarding to routing's internal API
(served in-process over the in-memory store)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from libs.common.auth import DEV_AUDIENCE, DEV_ISSUER, Role, TokenVerifier, issue_dev_token
from libs.common.http import install_problem_handlers
from libs.common.settings import DEV_SECRET
from services.intake.gateway.catalogue_routes import catalogue_router
from services.intake.gateway.clients import RoutingClient
from services.intake.settings import IntakeSettings
from services.routing.routes import internal_router
from tests.unit.test_routing_flows import Harness, harness


def bearer(role: Role, sub: str = "someone", org_id: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_dev_token(DEV_SECRET, sub=sub, role=role, org_id=org_id)}"}


ADMIN = bearer(Role.ADMIN, "admin-1")
CITIZEN = bearer(Role.CITIZEN, "citizen-1")


@pytest.fixture
async def routing() -> Harness:
    return await harness()


@pytest.fixture
async def gateway(routing: Harness) -> AsyncIterator[httpx.AsyncClient]:
    internal = FastAPI()
    install_problem_handlers(internal)
    internal.include_router(
        internal_router(routing.catalogue, routing.flows, routing.clusters, routing.settings)
    )
    app = FastAPI()
    install_problem_handlers(app)
    routing_client = RoutingClient(IntakeSettings(env="dev"), httpx.ASGITransport(app=internal))
    app.include_router(catalogue_router(routing_client))
    app.state.verifier = TokenVerifier(issuer=DEV_ISSUER, audience=DEV_AUDIENCE, dev_secret=DEV_SECRET)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield client
    await routing_client.close()


async def test_admin_routes_are_for_admins_only(gateway: httpx.AsyncClient) -> None:
    assert (await gateway.get("/api/v1/admin/catalogue")).status_code == 401
    refused = await gateway.get("/api/v1/admin/catalogue", headers=CITIZEN)
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    operator = bearer(Role.OPERATOR, "op", "city-admin")
    assert (
        await gateway.put("/api/v1/admin/catalogue/rules/x", json={}, headers=operator)
    ).status_code == 403


async def test_an_admin_changes_a_rule_and_it_is_logged_with_their_id(gateway: httpx.AsyncClient) -> None:
    info = (await gateway.get("/api/v1/admin/catalogue", headers=ADMIN)).json()
    assert info["version"] == 1 and info["counts"]["topics"] >= 60
    rules = (await gateway.get("/api/v1/admin/catalogue/rules", headers=ADMIN)).json()
    assert any(rule["id"] == "landscaping-municipal" for rule in rules)
    body = {
        "topic": "landscaping.street_lighting",
        "area": "demograd",
        "organization": "dmg-landscaping",
        "priority": 5,
    }
    changed = await gateway.put("/api/v1/admin/catalogue/rules/lamps", json=body, headers=ADMIN)
    assert changed.status_code == 200, changed.text
    assert changed.json()["version"] == 2
    preview = await gateway.get(
        "/api/v1/admin/catalogue/preview",
        params={"topic": "landscaping.street_lighting", "lat": 57.65, "lon": 43.77},
        headers=ADMIN,
    )
    assert preview.json()["organization"]["id"] == "dmg-landscaping"
    assert preview.json()["catalogue_version"] == 2
    (last, *_) = (await gateway.get("/api/v1/admin/catalogue/changes", headers=ADMIN)).json()
    assert (last["actor"], last["entity_id"]) == ("admin-1", "lamps")
    deleted = await gateway.delete("/api/v1/admin/catalogue/rules/lamps", headers=ADMIN)
    assert deleted.json()["version"] == 3


async def test_routings_refusals_pass_through_with_their_detail(gateway: httpx.AsyncClient) -> None:
    bad = await gateway.put(
        "/api/v1/admin/catalogue/rules/bad",
        json={"topic": "roads.*", "organization": "ghost"},
        headers=ADMIN,
    )
    assert bad.status_code == 422
    assert "ghost" in bad.json()["detail"] and bad.json()["problems"]
    missing = await gateway.get("/api/v1/admin/catalogue/organizations/nobody", headers=ADMIN)
    assert missing.status_code == 404
    wrong_entity = await gateway.get("/api/v1/admin/catalogue/passwords", headers=ADMIN)
    assert wrong_entity.status_code == 422


async def test_the_moderation_queue_through_the_gateway(gateway: httpx.AsyncClient, routing: Harness) -> None:
    held = await routing.submit(routing.submitted(text=("Двор", "Во дворе говно, никто не убирает")))
    queue = (await gateway.get("/api/v1/admin/moderation", headers=ADMIN)).json()
    assert queue["total"] == 1 and queue["items"][0]["appeal_id"] == held["_id"]
    decided = await gateway.post(
        f"/api/v1/admin/moderation/{held['_id']}",
        json={"decision": "reject", "reason_code": "rude"},
        headers=ADMIN,
    )
    assert decided.status_code == 200 and decided.json()["status"] == "rejected"
    history = (await gateway.get(f"/api/v1/admin/assignments/{held['_id']}", headers=ADMIN)).json()["history"]
    assert history[-1]["actor"] == "moderator:admin-1"


async def test_operators_see_their_clusters_and_everyone_the_problem_zones(
    gateway: httpx.AsyncClient, routing: Harness
) -> None:
    for i, (lat, lon) in enumerate([(57.65, 43.77), (57.651, 43.77), (57.65, 43.771)]):
        await routing.submit(
            routing.submitted(text=(f"Фонарь {i}", f"Не горит фонарь номер {i} у дома"), lat=lat, lon=lon)
        )
    city = bearer(Role.OPERATOR, "op-1", "city-admin")
    roads = bearer(Role.OPERATOR, "op-2", "dmg-roads")
    mine = (await gateway.get("/api/v1/clusters", headers=city)).json()
    assert mine["total"] == 1 and mine["items"][0]["size"] == 3
    # An operator cannot widen the filter to another organisation.
    assert (await gateway.get("/api/v1/clusters?organization_id=city-admin", headers=roads)).json()[
        "total"
    ] == 0
    assert (await gateway.get("/api/v1/clusters", headers=CITIZEN)).status_code == 403
    assert (await gateway.get("/api/v1/clusters", headers=ADMIN)).json()["total"] == 1
    zones = await gateway.get("/api/v1/problem-zones")
    assert zones.status_code == 200
    assert zones.json()["hotspots"][0]["appeals"] == 3


async def test_routing_unreachable_is_a_clear_503() -> None:
    app = FastAPI()
    install_problem_handlers(app)
    settings = IntakeSettings(env="dev", routing_url="http://127.0.0.1:9", upstream_timeout_seconds=2)
    routing_client = RoutingClient(settings)
    app.include_router(catalogue_router(routing_client))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
        response = await client.get("/api/v1/problem-zones")
    await routing_client.close()
    assert response.status_code == 503
    assert "routing" in response.json()["detail"]


async def test_an_operator_does_not_see_other_organisations_appeal_numbers_in_a_cluster(
    gateway: httpx.AsyncClient, routing: Harness
) -> None:
    ids = []
    for i, (lat, lon) in enumerate([(57.65, 43.77), (57.651, 43.77), (57.65, 43.771)]):
        doc = await routing.submit(
            routing.submitted(text=(f"Фонарь {i}", f"Не горит фонарь номер {i} у дома"), lat=lat, lon=lon)
        )
        ids.append(doc["_id"])
    # One of the three was handed to another organisation ("not ours", an escalation...).
    await routing.db["assignments"].update_one(
        {"_id": ids[2]}, {"$set": {"organization": {"id": "dmg-roads", "name": "Дороги"}}}
    )
    city = bearer(Role.OPERATOR, "op-1", "city-admin")
    [cluster] = (await gateway.get("/api/v1/clusters", headers=city)).json()["items"]
    assert cluster["size"] == 3 and cluster["other_members"] == 1
    assert {m["appeal_id"] for m in cluster["members"]} == set(ids[:2])
    assert all(m["organization_id"] == "city-admin" for m in cluster["members"])
    roads = bearer(Role.OPERATOR, "op-2", "dmg-roads")
    [theirs] = (await gateway.get("/api/v1/clusters", headers=roads)).json()["items"]
    assert [m["appeal_id"] for m in theirs["members"]] == [ids[2]] and theirs["other_members"] == 2
    [full] = (await gateway.get("/api/v1/clusters", headers=ADMIN)).json()["items"]
    assert len(full["members"]) == 3  # admins see every member


async def test_everyone_gets_the_municipalities_polygons_without_internal_fields(
    gateway: httpx.AsyncClient,
) -> None:
    """`GET /api/v1/areas` (public, for maps): GeoJSON with id, name and boundary only."""
    response = await gateway.get("/api/v1/areas")
    assert response.status_code == 200
    body = response.json()
    assert body["type"] == "FeatureCollection"
    demograd = next(f for f in body["features"] if f["id"] == "demograd")
    assert demograd["properties"] == {"id": "demograd", "name": "Город Демоград"}
    assert demograd["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert all(set(f["properties"]) == {"id", "name"} for f in body["features"])


async def test_the_control_centre_queue_through_the_gateway(
    gateway: httpx.AsyncClient, routing: Harness
) -> None:
    from tests.unit.test_triage import POTHOLE, refuse

    appeal = await routing.submit(routing.submitted(topic="roads.potholes", text=POTHOLE))
    for _ in range(4):
        await refuse(routing, appeal["_id"])
    operator = bearer(Role.OPERATOR, "op-1", "region-admin")
    assert (await gateway.get("/api/v1/admin/triage", headers=operator)).status_code == 403
    queue = (await gateway.get("/api/v1/admin/triage", headers=ADMIN)).json()
    assert queue["total"] == 1 and queue["items"][0]["appeal_id"] == appeal["_id"]
    assert queue["items"][0]["status"] == "needs_triage"
    decided = await gateway.post(
        f"/api/v1/admin/triage/{appeal['_id']}", json={"organization_id": "city-admin"}, headers=ADMIN
    )
    assert decided.status_code == 200 and decided.json()["organization"]["id"] == "city-admin"
    assert decided.json()["history"][-1]["actor"] == "control-centre:admin-1"


async def test_routings_answers_are_typed_and_an_appeals_record_keeps_internal_keys_in_routing(
    gateway: httpx.AsyncClient, routing: Harness
) -> None:
    stored = await routing.submit(routing.submitted(author="citizen-42"))
    assert {"author_id", "fingerprint", "applied", "outbox"} <= set(stored)  # what routing keeps
    record = (await gateway.get(f"/api/v1/admin/assignments/{stored['_id']}", headers=ADMIN)).json()
    assert record["appeal_id"] == stored["_id"] and record["status"] == "routed"
    assert record["organization"] == stored["organization"]
    assert record["history"][0]["candidates"][0] == stored["organization"]["id"]
    assert not {"_id", "author_id", "resident", "fingerprint", "applied", "outbox", "version"} & set(record)
    assert "citizen-42" not in str(record)
    schema = (await gateway.get("/openapi.json")).json()
    answers = {
        (path, method): operation["responses"]["200"]["content"]["application/json"]["schema"]
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if path.startswith(
            (
                "/api/v1/admin/assignments",
                "/api/v1/admin/moderation",
                "/api/v1/admin/triage",
                "/api/v1/clusters",
            )
        )
    }
    assert answers == {
        ("/api/v1/admin/assignments/{appeal_id}", "get"): {"$ref": "#/components/schemas/AssignmentView"},
        ("/api/v1/admin/moderation", "get"): {"$ref": "#/components/schemas/AssignmentPage"},
        ("/api/v1/admin/moderation/{appeal_id}", "post"): {"$ref": "#/components/schemas/AssignmentView"},
        ("/api/v1/admin/triage", "get"): {"$ref": "#/components/schemas/AssignmentPage"},
        ("/api/v1/admin/triage/{appeal_id}", "post"): {"$ref": "#/components/schemas/AssignmentView"},
        ("/api/v1/clusters", "get"): {"$ref": "#/components/schemas/ClusterPage"},
    }
