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


def test_a_filtered_queue_and_the_hint_header_are_documented_for_the_served_namespace() -> None:
    from libs.common.asyncapi import build_spec, retarget
    from services.media.handlers import NAMES_FILES

    document = retarget(
        build_spec("appeals", {"media": ["appeal.submitted"]}, {"media": {"appeal.submitted": NAMES_FILES}}),
        "town-dev",
    )
    channel = document["channels"]["media <- appeal.submitted"]
    assert channel["bindings"]["amqp"]["queue"]["name"] == "town-dev.media"
    assert "`media_count` is not 0" in channel["description"]
    assert "`town-dev.media.filter.appeal.submitted`" in channel["description"]
    messages = document["components"]["messages"]
    submitted = messages["appeal.submitted v1:Message"]["headers"]
    assert submitted["properties"]["media_count"]["type"] == "integer"
    assert "media_count" not in submitted["required"]  # absent on an older publisher's message
    assert "media_count" not in messages["appeal.routed v1:Message"]["headers"]["properties"]
