import yaml

from devstack.asyncapi import DOCUMENT, render
from libs.common.events import PAYLOADS


def test_committed_document_matches_the_code() -> None:
    generated = render()
    assert DOCUMENT.read_text(encoding="utf-8") == generated, (
        "docs/asyncapi.yaml differs from the code: run `python -m devstack.asyncapi`"
    )


def test_every_event_and_every_binding_is_documented() -> None:
    document = yaml.safe_load(render())
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert {event_type for event_type, _ in PAYLOADS} <= addresses
    queues = {
        channel["bindings"]["amqp"]["queue"]["name"]
        for channel in document["channels"].values()
        if channel["bindings"]["amqp"]["is"] == "queue"
    }
    assert {
        f"appeals.{service}" for service in ("intake", "routing", "deadlines", "notify", "media")
    } <= queues
    submitted = document["components"]["schemas"]["AppealSubmittedV1Event"]
    assert {"specversion", "id", "type", "source", "subject", "time", "correlationid", "data"} <= set(
        submitted["properties"]
    )
