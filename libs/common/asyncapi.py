"""The event catalogue as an AsyncAPI document, generated from the code by FastStream.

Every registered payload becomes a message on the domain exchange (routing key = event type,
payload = the CloudEvents envelope with that `data`); every service's queue is listed with the
event types it is bound to.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from faststream.rabbit import RabbitBroker, RabbitQueue
from faststream.specification import AsyncAPI
from pydantic import BaseModel, create_model

from libs.common.events import PAYLOADS, Envelope
from libs.common.topology import Topology

DESCRIPTION = """Domain events of the citizen appeals platform.

One durable topic exchange `<namespace>.events`; the routing key is the event type. Subscribe by
binding your own queue. Every message is a CloudEvents 1.0 envelope; `data` follows the model of
its `type` and `dataversion`. Versions only gain optional fields; a breaking change is a new
`dataversion`.
"""


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


def build_spec(namespace: str, consumers: Mapping[str, Iterable[str]]) -> Any:
    """The AsyncAPI 3.0 document as plain JSON-able data."""
    broker = RabbitBroker()
    topology = Topology(namespace)
    exchange = topology.events_exchange
    for (event_type, version), payload in sorted(PAYLOADS.items()):
        broker.publisher(
            exchange=exchange,
            routing_key=event_type,
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

            async def handle(body: Any) -> None:  # documentation only, never run
                return None

            handle.__annotations__ = {"body": models[event_type], "return": None}
            broker.subscriber(queue, exchange, title=f"{service} <- {event_type}")(handle)
    spec = AsyncAPI(broker, title="Citizen appeals events", version="1.0.0", description=DESCRIPTION)
    return spec.to_specification().to_jsonable()
