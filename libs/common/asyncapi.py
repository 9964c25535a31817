"""The event catalogue as an AsyncAPI document, generated from the code by FastStream.

Every registered payload becomes a message on the domain exchange (routing key = event type,
payload = the CloudEvents envelope with that `data`, headers = `message_headers`); every
service's queue is listed with the event types it is bound to, and a filtered one says so.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from fastapi.responses import Response
from faststream.rabbit import RabbitBroker, RabbitQueue
from faststream.specification import AsyncAPI
from pydantic import BaseModel, create_model

from libs.common.events import PAYLOADS, STRUCTURED_CONTENT_TYPE, Envelope
from libs.common.topology import ROUTING_HINTS, HintFilter, Topology

DESCRIPTION = """Domain events of the citizen appeals platform (namespace `{namespace}`).

One durable topic exchange `{namespace}.events`; the routing key is the event type. Subscribe by
binding your own queue. Every message is a CloudEvents 1.0 envelope in structured content mode
(content type `application/cloudevents+json`), published persistent (delivery mode 2) with
publisher confirms and without `mandatory`; deduplicate by the event `id` (at-least-once).
`data` follows the model of its `type` and `dataversion`. Versions only gain optional fields; a
breaking change is a new `dataversion`. Every exchange and queue name begins with the
deployment's namespace: this document names those of the deployment that serves it.

Headers: `correlation_id` and `appeal_id` (for logs), and routing hints such as `media_count`
(how many files an event names) that our own queues are filtered on through headers exchanges
bound to the topic exchange. A hint is not data: read the body; bind your queue to the topic
exchange by event type as always.
"""
# The namespace the committed docs/asyncapi.yaml is written for (the settings' default).
DEFAULT_NAMESPACE = "appeals"


def envelope_of(event_type: str, version: int, payload: type[BaseModel]) -> type[BaseModel]:
    """The envelope with its `type`, `dataversion` and `data` pinned, for the schema."""
    name = "".join(part.title() for part in event_type.replace(".", "_").split("_")) + f"V{version}Event"
    fields: dict[str, Any] = {
        "type": (Literal[event_type], ...),
        "dataversion": (Literal[version], version),
        "data": (payload, ...),
    }
    model: type[BaseModel] = create_model(name, __base__=Envelope, **fields)
    return model


def message_headers(payload: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema of the AMQP headers `EventBus.publish` sets on an event of `payload`: the
    log headers, and each routing hint whose field the payload has (as `routing_headers` does)."""
    properties: dict[str, Any] = {
        "correlation_id": {"type": "string", "description": "The request's correlation id (logs)."},
        "appeal_id": {"type": "string", "description": "The event's subject (logs)."},
    }
    required = sorted(properties)  # a hint may be missing on a message from an older publisher
    for hint in ROUTING_HINTS:
        if hint.field in payload.model_fields:
            properties[hint.header] = {
                "type": "integer",
                "minimum": 0,
                "description": f"{hint.description} May be absent (an older publisher): filters "
                "then deliver the event.",
            }
    return {"type": "object", "required": required, "properties": properties}


def build_spec(
    namespace: str,
    consumers: Mapping[str, Iterable[str]],
    filters: Mapping[str, Mapping[str, HintFilter]] | None = None,
) -> Any:
    """The AsyncAPI 3.0 document as plain JSON-able data, for the deployment `namespace`.

    `consumers`: service name -> the event types its queue is bound to. `filters`: service name
    -> event type -> the filter its queue receives that type through (`EventConsumer.filters`).
    Publishers are declared as `EventBus.publish` publishes (persistent, not mandatory), so the
    bindings say what the code does.
    """
    filters = filters or {}
    broker = RabbitBroker()
    topology = Topology(namespace)
    exchange = topology.events_exchange
    for (event_type, version), payload in sorted(PAYLOADS.items()):
        broker.publisher(
            exchange=exchange,
            routing_key=event_type,
            persist=True,  # as EventBus.publish: delivery mode 2
            mandatory=False,  # as EventBus.publish: unroutable events are not returned
            title=f"{event_type} v{version}",
            description=(payload.__doc__ or "").strip() or None,
            schema=envelope_of(event_type, version, payload),
        )
    models = {
        event_type: envelope_of(event_type, version, payload)
        for (event_type, version), payload in PAYLOADS.items()
    }
    for service, event_types in sorted(consumers.items()):
        for event_type in sorted(event_types):
            queue = RabbitQueue(topology.queue_name(service), durable=True, routing_key=event_type)
            when = filters.get(service, {}).get(event_type)
            description = None
            if when is not None:
                through = topology.filter_exchange(service, event_type).name
                description = f"Filtered: {when.describe()}, through the headers exchange `{through}`."

            async def handle(body: Any) -> None:  # documentation only, never run
                # No docstring: FastStream would publish it as every channel's description.
                return None

            handle.__annotations__ = {"body": models[event_type], "return": None}
            broker.subscriber(queue, exchange, title=f"{service} <- {event_type}", description=description)(
                handle
            )
    spec = AsyncAPI(
        broker,
        title="Citizen appeals events",
        version="1.0.0",
        description=DESCRIPTION.format(namespace=namespace),
    )
    document = spec.to_specification().to_jsonable()
    # Every message body is a structured-mode CloudEvent (EventBus.publish's content type).
    document["defaultContentType"] = STRUCTURED_CONTENT_TYPE
    # FastStream writes no headers schema; EventBus.publish's headers are part of what we publish.
    messages = document.get("components", {}).get("messages", {})
    for (event_type, version), payload in PAYLOADS.items():
        if (message := messages.get(f"{event_type} v{version}:Message")) is not None:
            message["headers"] = message_headers(payload)
    return document


def retarget(document: Any, namespace: str, written_for: str = DEFAULT_NAMESPACE) -> Any:
    """The document with every exchange and queue named for `namespace` instead of `written_for`.

    `document` is the JSON-able form `build_spec(written_for, ...)` returned (e.g. the committed
    docs/asyncapi.yaml, loaded); returns a new document, the input is left as it was. Only names
    of broker objects (binding `name`s, and names in backticks in descriptions) and the namespace
    in the description change: addresses are event types.
    """
    prefix, target = f"{written_for}.", f"{namespace}."

    def walk(node: Any, key: str | None = None) -> Any:
        """A copy of `node` with every `name` that starts with `prefix` renamed to start with `target`."""
        if isinstance(node, dict):
            return {name: walk(value, name) for name, value in node.items()}
        if isinstance(node, list):
            return [walk(value) for value in node]
        if key == "name" and isinstance(node, str) and node.startswith(prefix):
            return target + node[len(prefix) :]
        if key == "description" and isinstance(node, str):  # e.g. a filter's exchange, in backticks
            return node.replace(f"`{prefix}", f"`{target}")
        return node

    moved = walk(document)
    info = moved.get("info") or {}
    if isinstance(info.get("description"), str):
        info["description"] = (
            info["description"]
            .replace(f"`{written_for}`", f"`{namespace}`")
            .replace(f"`{prefix}events`", f"`{target}events`")
        )
    return moved


# RFC 9512: the media type of YAML documents.
YAML_MEDIA_TYPE = "application/yaml"


# What a reader of the served YAML finds (the document is an AsyncAPI 3.0 object).
ASYNCAPI_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["asyncapi", "info", "channels", "operations"],
    "properties": {"asyncapi": {"type": "string", "pattern": "^3[.]"}, "info": {"type": "object"}},
}


class YamlResponse(Response):
    """A YAML document; as a route's `response_class` it also puts the media type in OpenAPI."""

    media_type = YAML_MEDIA_TYPE


def render_yaml(document: Any) -> str:
    """YAML with sorted keys: FastStream's own order varies between runs, a served or committed
    document must not."""
    return yaml.safe_dump(document, sort_keys=True, allow_unicode=True)


@functools.lru_cache(maxsize=8)
def served_document(path: Path, namespace: str) -> str:
    """The committed document (`path`, written for `DEFAULT_NAMESPACE`) as YAML naming the
    exchange and queues of `namespace`. Cached: both are fixed for a running gateway.

    Raises OSError when the document is not installed, `yaml.YAMLError` when it is not YAML.
    """
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    return render_yaml(retarget(document, namespace))
