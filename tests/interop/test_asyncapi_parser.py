"""The served AsyncAPI document, as the official parser (`@asyncapi/parser`, npm) reads it.

The parser runs in Node (`tests/interop/asyncapi`, installed by `make install`); the gateway is
asked for its document the way a subscriber would, for a namespace that is not the default.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from devstack.asyncapi import DOCUMENT
from libs.common.events import PAYLOADS
from services.intake.app import create_app
from services.intake.settings import IntakeSettings

CHECKER = Path(__file__).parent / "asyncapi"
SERVICES = ("intake", "routing", "deadlines", "notify", "media", "polls")


def parse(document: str) -> dict[str, Any]:
    """The parser's verdict on `document`: {"valid", "errors", "warnings", "channels", "operations"}."""
    node = shutil.which("node")
    assert node, "Node.js is needed for the AsyncAPI parser"
    assert (CHECKER / "node_modules" / "@asyncapi" / "parser").is_dir(), "run `make install` first"
    done = subprocess.run(
        [node, "validate.mjs"], input=document, capture_output=True, text=True, cwd=CHECKER, timeout=120
    )
    assert done.stdout, done.stderr
    verdict: dict[str, Any] = json.loads(done.stdout)
    assert (done.returncode == 0) == verdict["valid"]
    return verdict


async def served(namespace: str) -> str:
    app = create_app(IntakeSettings(env="dev", namespace=namespace, asyncapi_path=DOCUMENT))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
        response = await client.get("/api/v1/events/asyncapi.yaml")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/yaml")
    return response.text


async def test_the_served_document_names_this_deployments_exchange_and_queues() -> None:
    document = await served("acme-prod")
    verdict = parse(document)
    assert verdict["valid"], verdict["errors"][:5]
    exchanges = {
        binding["value"]["exchange"]["name"]
        for channel in verdict["channels"]
        for binding in channel["bindings"]
        if binding["value"].get("is") == "routingKey"
    }
    queues = {
        binding["value"]["queue"]["name"]
        for channel in verdict["channels"]
        for binding in channel["bindings"]
        if binding["value"].get("is") == "queue"
    }
    assert exchanges == {"acme-prod.events"}
    assert queues == {f"acme-prod.{service}" for service in SERVICES}
    assert "appeals.events" not in document
    published = {channel["address"] for channel in verdict["channels"]}
    assert {event_type for event_type, _ in PAYLOADS} <= published


async def test_bindings_say_what_the_publisher_does() -> None:
    verdict = parse(await served("acme-prod"))
    sends = [operation for operation in verdict["operations"] if operation["action"] == "send"]
    assert len(sends) == len(PAYLOADS)
    for operation in sends:
        [amqp] = [binding["value"] for binding in operation["bindings"] if binding["protocol"] == "amqp"]
        # EventBus.publish: persist=True (delivery mode 2), mandatory=False
        assert amqp["deliveryMode"] == 2, operation["id"]
        assert amqp["mandatory"] is False, operation["id"]


async def test_every_envelope_schema_requires_id_and_specversion() -> None:
    document = yaml.safe_load(await served("acme-prod"))
    assert document["defaultContentType"] == "application/cloudevents+json"
    envelopes = {
        name: schema for name, schema in document["components"]["schemas"].items() if name.endswith("Event")
    }
    assert len(envelopes) == len(PAYLOADS)
    for name, schema in envelopes.items():
        assert {"id", "specversion", "type", "source", "time", "correlationid"} <= set(schema["required"]), (
            name
        )
        assert "correlation_id" not in schema["properties"], name


def test_the_committed_document_is_valid_and_the_parser_catches_a_broken_one() -> None:
    committed = DOCUMENT.read_text(encoding="utf-8")
    assert parse(committed)["valid"]
    broken = parse(committed.replace("deliveryMode: 2", "deliveryMode: 3"))
    assert not broken["valid"]
    assert any("deliveryMode" in error["path"] for error in broken["errors"])


@pytest.mark.parametrize("namespace", ["appeals", "appeals-dev"])
async def test_any_namespace_is_named_consistently(namespace: str) -> None:
    document = yaml.safe_load(await served(namespace))
    names = {
        value["name"]
        for channel in document["channels"].values()
        for kind, value in channel["bindings"]["amqp"].items()
        if kind in ("exchange", "queue")
    }
    assert names == {f"{namespace}.events"} | {f"{namespace}.{service}" for service in SERVICES}
    assert f"`{namespace}.events`" in document["info"]["description"]
