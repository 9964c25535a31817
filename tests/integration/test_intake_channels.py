"""Monitoring incidents, Open311 GeoReport v2 and the gateway's input limits."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator

import pytest

from libs.common.auth import Role
from tests.infra import eventually
from tests.integration.gateway_harness import Gateway, running_gateway

pytestmark = pytest.mark.integration

OPEN311 = "/open311/v2"
KEY = "dev-open311-key"


@pytest.fixture
async def gw(rabbit_url: str, namespace: str) -> AsyncIterator[Gateway]:
    async with running_gateway(
        rabbit_url, namespace, submit_rate_per_minute=3, max_json_bytes=8192
    ) as gateway:
        yield gateway


def incident(url: str = "https://vk.com/wall-100_200") -> dict:
    return {
        "network": "VK",
        "post_url": url,
        "author_handle": "@resident",
        "text": "Во дворе на Ленина 5 третий день не вывозят мусор",
        "topic": "roads.potholes",
        "found_at": "2026-11-20T08:00:00Z",
    }


async def test_incident_becomes_a_social_appeal_once(gw: Gateway) -> None:
    monitor = gw.token("connector-1", Role.MONITOR)
    first = await gw.client.post("/api/v1/incidents", headers=monitor, json=incident())
    assert first.status_code == 201, first.text
    again = await gw.client.post(
        "/api/v1/incidents", headers=monitor, json=incident("https://VK.com/wall-100_200/?utm_source=x")
    )
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    other = await gw.client.post(
        "/api/v1/incidents", headers=monitor, json=incident("https://vk.com/wall-100_201")
    )
    assert other.json()["id"] != first.json()["id"]

    async def submitted() -> list:
        return gw.events("appeal.submitted", first.json()["id"])

    event = (await eventually(submitted))[0]["data"]
    assert event["channel"] == "social"
    assert event["source_post"]["network"] == "vk"
    assert event["source_post"]["url"] == "https://vk.com/wall-100_200"
    assert event["summary"].startswith("Во дворе")


async def test_only_monitors_report_incidents(gw: Gateway) -> None:
    citizen = gw.token("citizen-1")
    assert (await gw.client.post("/api/v1/incidents", headers=citizen, json=incident())).status_code == 403
    bad = await gw.client.post(
        "/api/v1/incidents", headers=gw.token("c", Role.MONITOR), json={**incident(), "topic": "no.such"}
    )
    assert bad.status_code == 422


async def test_open311_services_in_json_and_xml(gw: Gateway) -> None:
    services = (await gw.client.get(f"{OPEN311}/services.json")).json()
    assert {service["service_code"] for service in services} == {"roads.potholes", "transport.schedule"}
    assert set(services[0]) == {
        "service_code",
        "service_name",
        "description",
        "metadata",
        "type",
        "keywords",
        "group",
    }
    assert services[0]["metadata"] is False
    xml = await gw.client.get(f"{OPEN311}/services.xml")
    assert xml.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(xml.content)
    assert root.tag == "services"
    assert {node.findtext("service_code") for node in root.findall("service")} == {
        "roads.potholes",
        "transport.schedule",
    }
    definition = (await gw.client.get(f"{OPEN311}/services/roads.potholes.json")).json()
    assert definition == {"service_code": "roads.potholes", "attributes": []}
    missing = await gw.client.get(f"{OPEN311}/services/nope.json")
    assert missing.status_code == 404
    assert missing.json() == [{"code": 404, "description": "service_code nope not found"}]


async def test_open311_request_round_trip_as_in_the_spec(gw: Gateway) -> None:
    # The spec's POST example, form-encoded.
    form = {
        "api_key": KEY,
        "service_code": "roads.potholes",
        "lat": "37.76524078",
        "long": "-122.4212043",
        "address_string": "1234 5th street",
        "email": "smit222@sfgov.edu",
        "device_id": "tt222111",
        "account_id": "123456",
        "first_name": "john",
        "last_name": "smith",
        "phone": "111111111",
        "description": "A large sinkhole is destroying the street",
        "media_url": "http://farm3.static.flickr.com/2002/2212426634_5ed477a060.jpg",
    }
    created = await gw.client.post(f"{OPEN311}/requests.json", data=form)
    assert created.status_code == 200, created.text
    [entry] = created.json()
    assert set(entry) == {"service_request_id", "service_notice", "account_id"}
    request_id = entry["service_request_id"]

    [found] = (await gw.client.get(f"{OPEN311}/requests/{request_id}.json")).json()
    assert found["service_request_id"] == request_id
    assert found["status"] == "open"
    assert found["service_code"] == "roads.potholes"
    assert found["description"] == "A large sinkhole is destroying the street"
    assert (found["lat"], found["long"]) == (37.76524078, -122.4212043)
    assert found["media_url"] == form["media_url"]
    assert "smit222@sfgov.edu" not in str(found)  # no personal data in public listings

    listed = (await gw.client.get(f"{OPEN311}/requests.json?service_code=roads.potholes&status=open")).json()
    assert request_id in {item["service_request_id"] for item in listed}
    closed = (await gw.client.get(f"{OPEN311}/requests.json?status=closed")).json()
    assert request_id not in {item["service_request_id"] for item in closed}
    # Appeals sent through the platform's own API are never listed.
    private = await gw.submit(gw.token("citizen-2"))
    everything = (await gw.client.get(f"{OPEN311}/requests.json")).json()
    assert private["number"] not in {item["service_request_id"] for item in everything}


@pytest.mark.parametrize(
    ("form", "code"),
    [
        (
            {
                "api_key": "wrong",
                "service_code": "roads.potholes",
                "lat": "1",
                "long": "1",
                "description": "abc",
            },
            403,
        ),
        ({"api_key": KEY, "service_code": "nope", "lat": "1", "long": "1", "description": "abc"}, 400),
        ({"api_key": KEY, "service_code": "roads.potholes", "description": "no location"}, 400),
        ({"api_key": KEY, "service_code": "roads.potholes", "address_string": "ул. Ленина, 1"}, 400),
    ],
)
async def test_open311_errors_in_the_spec_format(gw: Gateway, form: dict, code: int) -> None:
    response = await gw.client.post(f"{OPEN311}/requests.json", data=form)
    assert response.status_code == code
    [error] = response.json()
    assert error["code"] == code
    assert error["description"]


async def test_submit_rate_limit_per_caller(gw: Gateway) -> None:
    hasty, calm = gw.token("hasty"), gw.token("calm")
    for _ in range(3):
        await gw.submit(hasty)
    limited = await gw.client.post(
        "/api/v1/appeals",
        headers=hasty,
        json={
            "kind": "question",
            "topic": "roads.potholes",
            "summary": "abc",
            "description": "d",
            "location": {"address": "a"},
        },
    )
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.headers["content-type"] == "application/problem+json"
    await gw.submit(calm)  # another caller is not affected


async def test_oversized_body_is_413_and_unknown_fields_422(gw: Gateway) -> None:
    citizen = gw.token("citizen-3")
    huge = {
        "kind": "question",
        "topic": "roads.potholes",
        "summary": "abc",
        "description": "x" * 9000,
        "location": {"address": "a"},
    }
    response = await gw.client.post("/api/v1/appeals", headers=citizen, json=huge)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    extra = {
        "kind": "question",
        "topic": "roads.potholes",
        "summary": "abc",
        "description": "d",
        "location": {"address": "a"},
        "admin": True,
    }
    rejected = await gw.client.post("/api/v1/appeals", headers=citizen, json=extra)
    assert rejected.status_code == 422
    assert rejected.json()["errors"][0]["loc"][-1] == "admin"
    nowhere = {
        "kind": "question",
        "topic": "roads.potholes",
        "summary": "abc",
        "description": "d",
        "location": {},
    }
    assert (await gw.client.post("/api/v1/appeals", headers=citizen, json=nowhere)).status_code == 422


async def test_media_of_others_cannot_be_attached(gw: Gateway) -> None:
    theirs = gw.fakes.add_media("stranger")
    mine = gw.fakes.add_media("citizen-4")
    citizen = gw.token("citizen-4")
    body = {
        "kind": "complaint",
        "topic": "roads.potholes",
        "summary": "Фото",
        "description": "С фото",
        "location": {"address": "a"},
    }
    denied = await gw.client.post("/api/v1/appeals", headers=citizen, json={**body, "media_ids": [theirs]})
    assert denied.status_code == 422
    assert "not yours" in denied.json()["detail"]
    twice = await gw.client.post("/api/v1/appeals", headers=citizen, json={**body, "media_ids": [mine, mine]})
    assert twice.status_code == 422
    accepted = await gw.client.post("/api/v1/appeals", headers=citizen, json={**body, "media_ids": [mine]})
    assert accepted.status_code == 201


async def test_metrics_show_appeals_by_status(gw: Gateway) -> None:
    from services.intake.scheduled import refresh_gauges

    await gw.submit(gw.token("citizen-5"))
    await refresh_gauges(gw.app.state.runtime.db)
    metrics = (await gw.client.get("/metrics")).text
    assert 'appeals_by_status{status="received"} 1.0' in metrics
    assert "appeals_overdue 0.0" in metrics
    assert "appeals_http_requests_total" in metrics
