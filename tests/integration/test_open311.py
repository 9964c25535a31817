"""Open311 GeoReport v2 as its clients see it: the `georeport` client library (PyPI) reads what
residents wrote through the gateway, in JSON and XML, hostile text included; XML is also read
by a strict parser (expat, via ElementTree). The gateway runs in-process behind a real HTTP
server on 127.0.0.1, over the real broker."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import uvicorn
from georeport import GeoReport

from devstack.stack import free_port
from services.intake.masking import HIDDEN
from services.intake.records import APPEALS
from tests.infra import eventually
from tests.integration.gateway_harness import Gateway, running_gateway

pytestmark = pytest.mark.integration

OPEN311 = "/open311/v2"
KEY, OTHER_KEY = "key-city-app", "key-other-app"
HOSTILE = "Яма\x0b у дома\x0c 5 <b>&amp;</b> ]]> \x1f\x00 конец 🚧"
CLEAN = "Яма у дома 5 <b>&amp;</b> ]]>  конец 🚧"


@asynccontextmanager
async def serving(gw: Gateway) -> AsyncIterator[str]:
    """The gateway's app behind uvicorn on a free local port (its lifespan already runs)."""
    port = free_port()
    config = uvicorn.Config(gw.app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())

    async def started() -> bool:
        return bool(server.started)

    await eventually(started, timeout=10)
    try:
        yield f"http://127.0.0.1:{port}{OPEN311}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def gw(rabbit_url: str, namespace: str) -> AsyncIterator[Gateway]:
    async with running_gateway(
        rabbit_url,
        namespace,
        open311_api_keys={KEY: "city-app", OTHER_KEY: "other-app"},
        open311_submit_rate_per_minute=8,
    ) as gateway:
        yield gateway


def form(**fields: str) -> dict[str, str]:
    return {
        "api_key": KEY,
        "service_code": "roads.potholes",
        "lat": "57.65",
        "long": "43.77",
        "description": "Глубокая яма у остановки",
        **fields,
    }


def raw_form(fields: dict[str, str]) -> bytes:
    """A form body with raw UTF-8 (not percent-encoded) values, as some clients send it."""
    return "&".join(f"{quote(key)}={value}" for key, value in fields.items()).encode()


async def post(gw: Gateway, fields: dict[str, str], fmt: str = "json") -> httpx.Response:
    return await gw.client.post(f"{OPEN311}/requests.{fmt}", data=fields)


async def created_id(gw: Gateway, fields: dict[str, str]) -> str:
    response = await post(gw, fields)
    assert response.status_code == 200, response.text
    return str(response.json()[0]["service_request_id"])


async def test_the_georeport_client_reads_hostile_text_in_json_and_xml(gw: Gateway) -> None:
    text = f"{HOSTILE}. Звонить +7 (999) 123-45-67, ivan@mail.ru, кв. 12"
    request_id = await created_id(gw, form(description=text, media_url="https://example.org/p.jpg"))
    written = await post(gw, form(description=HOSTILE), "xml")
    assert written.status_code == 200, written.text
    xml_id = ET.fromstring(written.content).findtext("request/service_request_id")
    async with serving(gw) as root:
        as_json = GeoReport(root, output_format="json")
        as_xml = GeoReport(root, output_format="xml")
        services = await asyncio.to_thread(as_xml.get_service_list)
        assert {service["service_code"] for service in services} == {"roads.potholes", "transport.schedule"}
        definition = await asyncio.to_thread(as_xml.get_service_definition, "roads.potholes")
        assert definition["service_code"] == "roads.potholes"
        assert "service" not in definition  # the spec's shape, no extra level
        assert (await asyncio.to_thread(as_json.get_service_definition, "roads.potholes"))["attributes"] == []
        listed_json = await asyncio.to_thread(as_json.get_service_requests)
        listed_xml = await asyncio.to_thread(as_xml.get_service_requests)
        one_json = await asyncio.to_thread(as_json.get_service_request, request_id)
        one_xml = await asyncio.to_thread(as_xml.get_service_request, request_id)
        one_xml_written = await asyncio.to_thread(as_xml.get_service_request, xml_id)
        raw_xml = (await asyncio.to_thread(httpx.get, f"{root}/requests.xml")).content
    expected = f"{CLEAN}. Звонить {HIDDEN}, {HIDDEN}, кв. {HIDDEN}"
    assert one_json["description"] == expected
    assert one_xml_written["description"] == CLEAN  # written in XML, read back by the client
    assert one_xml["description"] == expected  # xmltodict: one <request> is a dict
    for listed in (listed_json, listed_xml if isinstance(listed_xml, list) else [listed_xml]):
        [mine] = [item for item in listed if item["service_request_id"] == request_id]
        assert mine["description"] == expected
        assert mine["media_url"] == "https://example.org/p.jpg"
    root_element = ET.fromstring(raw_xml)  # expat: refuses anything not well-formed
    assert root_element.tag == "service_requests"
    assert all(node.tag == "request" for node in root_element)


async def test_hostile_text_from_any_source_never_breaks_the_list(gw: Gateway) -> None:
    """An operator's answer, a rejection reason or an old record reach the XML as well."""
    request_id = await created_id(gw, form())
    await gw.app.state.runtime.db[APPEALS].update_one(
        {"number": request_id},
        {
            "$set": {
                "status": "answered",
                "answers": [{"text": f"Ответ\x01\x08 {HOSTILE}", "at": None}],
                "location.address": "ул. Ленина\x0b 5, кв. 7",
                "open311.media_url": "javascript:alert(1)",
            }
        },
    )
    response = await gw.client.get(f"{OPEN311}/requests.xml")
    entries = {node.findtext("service_request_id"): node for node in ET.fromstring(response.content)}
    mine = entries[request_id]
    assert mine.findtext("status_notes") == f"Ответ {CLEAN}"
    assert mine.findtext("address") == f"ул. Ленина 5, кв. {HIDDEN}"
    assert mine.findtext("media_url") == ""  # never served back


@pytest.mark.parametrize("content_type", [None, "application/x-www-form-urlencoded; charset=utf-8"])
async def test_raw_utf8_form_bodies_are_decoded_as_utf8(gw: Gateway, content_type: str | None) -> None:
    headers = {"content-type": content_type or "application/x-www-form-urlencoded"}
    body = raw_form(form(description="Яма на улице Мира", address_string="ул. Мира, 3"))
    response = await gw.client.post(f"{OPEN311}/requests.json", content=body, headers=headers)
    assert response.status_code == 200, response.text
    [found] = (
        await gw.client.get(f"{OPEN311}/requests/{response.json()[0]['service_request_id']}.json")
    ).json()
    assert (found["description"], found["address"]) == ("Яма на улице Мира", "ул. Мира, 3")


async def test_a_body_that_is_not_utf8_is_refused_in_open311_format(gw: Gateway) -> None:
    body = raw_form(form()).replace("Глубокая".encode(), "Глубокая".encode("cp1251"))
    response = await gw.client.post(
        f"{OPEN311}/requests.json",
        content=body,
        headers={"content-type": "application/x-www-form-urlencoded; charset=windows-1251"},
    )
    assert response.status_code == 400
    assert response.json() == [{"code": 400, "description": "the form body is not UTF-8"}]


@pytest.mark.parametrize(
    ("fields", "mentions"),
    [
        (form(lat="abc"), "lat"),
        (form(description="x" * 4001), "description"),
        (form(lat="57.6", long=""), "lat and lon"),  # half a point
        (form(lat="", long="43.7"), "lat and lon"),
        (form(lat="", long=""), "point (lat, lon) or an address"),
        (form(lat="91"), "lat"),
        (form(lat="nan"), "lat"),
        (form(email="not-an-address"), "email"),
        (form(media_url="javascript:alert(1)"), "media_url"),
        (form(media_url="ftp://example.org/x.jpg"), "media_url"),
        (form(media_url="data:text/html,hi"), "media_url"),
        (form(service_code="no.such"), "service_code"),
        ({"api_key": KEY}, "service_code"),
    ],
)
async def test_every_bad_request_is_an_open311_error_in_json_and_xml(
    gw: Gateway, fields: dict[str, str], mentions: str
) -> None:
    response = await post(gw, fields)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json")
    errors = response.json()
    assert all(error["code"] == 400 for error in errors)
    assert any(mentions in error["description"] for error in errors), errors
    as_xml = await post(gw, fields, "xml")
    assert as_xml.status_code == 400
    assert as_xml.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(as_xml.content)
    assert root.tag == "errors"
    assert [node.findtext("code") for node in root.findall("error")] == ["400"] * len(errors)


async def test_one_location_rule_for_both_doors(gw: Gateway) -> None:
    citizen = gw.token("citizen-loc")
    body = {
        "kind": "complaint",
        "topic": "roads.potholes",
        "summary": "Яма",
        "description": "Глубокая яма",
        "location": {"lat": 57.6},
    }
    api = await gw.client.post("/api/v1/appeals", headers=citizen, json=body)
    open311 = await post(gw, form(lat="57.6", long=""))
    assert api.status_code == 422 and open311.status_code == 400
    assert "give both lat and lon" in api.json()["detail"]
    assert "give both lat and lon" in open311.json()[0]["description"]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("GET", "/requests.json?start_date=yesterday", {}, 400),
        ("GET", "/requests.xml?status=pending", {}, 400),
        ("GET", "/nope.json", {}, 404),
        ("GET", "/requests/2026-999999.xml", {}, 404),
        ("GET", "/services.yaml", {}, 404),
        ("DELETE", "/requests.json", {}, 405),
        ("POST", "/requests.json", {"json": {"api_key": KEY}}, 415),
        ("POST", "/requests.xml", {"data": {"api_key": "wrong"}}, 403),
        ("POST", "/requests.json", {"content": b"description=" + b"x" * 300_000}, 413),
    ],
)
async def test_every_error_on_every_open311_path_is_in_open311_format(
    gw: Gateway, method: str, path: str, kwargs: dict[str, Any], status: int
) -> None:
    response = await gw.client.request(method, f"{OPEN311}{path}", **kwargs)
    assert response.status_code == status, response.text
    if path.split("?")[0].endswith(".xml"):
        root = ET.fromstring(response.content)
        assert root.tag == "errors"
        assert root.findtext("error/code") == str(status)
        assert root.findtext("error/description")
    else:
        assert response.headers["content-type"].startswith("application/json")
        [error] = response.json()
        assert error["code"] == status and error["description"]


def submitted_author(gw: Gateway, number: str) -> str:
    [event] = [event for event in gw.events("appeal.submitted") if event["data"]["number"] == number]
    return str(event["data"]["author_id"])


async def test_the_reporter_not_the_client_is_the_author(gw: Gateway) -> None:
    same = "Не работает фонарь у подъезда"
    first = await created_id(gw, form(description=same, email="anna@example.org"))
    second = await created_id(gw, form(description=same, email="boris@example.org"))
    again = await created_id(gw, form(description=same, email="Anna@Example.org", api_key=OTHER_KEY))
    device = await created_id(gw, form(description=same, device_id="phone-1"))
    anonymous = [await created_id(gw, form(description=same)) for _ in range(2)]

    async def all_published() -> bool:
        numbers = {event["data"]["number"] for event in gw.events("appeal.submitted")}
        return {first, second, again, device, *anonymous} <= numbers

    await eventually(all_published)
    authors = {number: submitted_author(gw, number) for number in (first, second, again, device, *anonymous)}
    assert authors[first] != authors[second]  # two residents through one client
    assert authors[first] == authors[again]  # one resident through two clients
    assert len({authors[device], *(authors[number] for number in anonymous), authors[first]}) == 4
    assert not any("anna" in author.lower() or "phone-1" in author for author in authors.values())


async def test_submissions_are_limited_per_api_key(gw: Gateway) -> None:
    """8 per minute per key; a minute boundary crossed mid-way resets the count: try twice."""
    for _ in range(2):
        answers = [(await post(gw, form())).status_code for _ in range(9)]
        if answers[-1] == 429:
            break
    assert answers[:8] == [200] * 8 and answers[-1] == 429
    limited = await post(gw, form(), "xml")
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert ET.fromstring(limited.content).findtext("error/code") == "429"
    assert (await post(gw, form(api_key=OTHER_KEY))).status_code == 200  # another key is not affected


async def test_an_unexpected_failure_is_still_an_open311_error(
    gw: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.intake import open311

    def broken(topic: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("a bug")

    monkeypatch.setattr(open311, "service_entry", broken)
    response = await gw.client.get(f"{OPEN311}/services.xml")
    assert response.status_code == 500
    assert ET.fromstring(response.content).findtext("error/code") == "500"
    assert "a bug" not in response.text
