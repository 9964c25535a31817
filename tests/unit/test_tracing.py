"""Traces across HTTP and the broker (libs/common/tracing.py), with the SDK's in-memory exporter.

The chain test runs three runtimes (gateway → worker → mailer) in this process over the real
RabbitMQ: an HTTP request stores an event in its outbox, the relay publishes it, a consumer stores
and publishes the next, and the last consumer sends an e-mail to a real SMTP server. All of it
must be ONE trace, each span the child of the one before.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any, ClassVar

import aiosmtplib
import httpx
import pytest
from fastapi import APIRouter, FastAPI
from faststream.rabbit import RabbitBroker, RabbitMessage, RabbitQueue, TestRabbitBroker
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from devstack.mailsink import MailSink, free_port
from libs.common.events import AppealClosedV1, AppealRejectedV1, ClosedReason, Envelope, EventType
from libs.common.messaging import EventBus, EventConsumer
from libs.common.outbox import ENTRY_HEADERS, OUTBOX, OutboxRelay, entry_envelope, outbox_entry
from libs.common.runtime import ServiceRuntime
from libs.common.settings import ServiceSettings
from libs.common.store import open_store
from libs.common.topology import Topology
from libs.common.tracing import (
    TRACING_OFF,
    Tracing,
    TracingMiddleware,
    continued,
    current_trace_headers,
)
from tests.infra import eventually

GIVEN_TRACE = "0af7651916cd43dd8448eb211c80319c"
GIVEN_PARENT = "b7ad6b7169203331"


class GatewaySettings(ServiceSettings):
    service_name: ClassVar[str] = "gateway"


class WorkerSettings(ServiceSettings):
    service_name: ClassVar[str] = "worker"


class MailerSettings(ServiceSettings):
    service_name: ClassVar[str] = "mailer"


def rejected(appeal_id: str) -> AppealRejectedV1:
    return AppealRejectedV1(
        appeal_id=appeal_id,
        number="2026-000001",
        reason_code="spam",
        reason="spam",
        rejected_at=datetime.now(UTC),
    )


def entry(appeal_id: str = "a1") -> dict[str, Any]:
    return outbox_entry(
        EventType.APPEAL_REJECTED, rejected(appeal_id), source="unit", subject=appeal_id, correlation_id="c1"
    )


class FakeBroker:
    """Stands in for RabbitBroker.publish: keeps the headers each message was published with."""

    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []

    async def publish(self, body: bytes, **kwargs: Any) -> None:
        self.published.append(dict(kwargs["headers"]))


def traced() -> tuple[Tracing, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    return Tracing.create("unit", span_exporter=exporter), exporter


def hex_ids(span: ReadableSpan) -> tuple[str, str, str | None]:
    context = span.get_span_context()
    assert context is not None
    parent = span.parent.span_id if span.parent else None
    return (
        format(context.trace_id, "032x"),
        format(context.span_id, "016x"),
        format(parent, "016x") if parent else None,
    )


def ids(traceparent: str) -> tuple[str, str]:
    """(trace id, parent span id) of a W3C traceparent (the flags may carry more than 'sampled')."""
    version, trace_id, span_id, flags = traceparent.split("-")
    assert version == "00" and int(flags, 16) & 1
    return trace_id, span_id


# -- off: the default -------------------------------------------------------------------------


def test_tracing_is_off_by_default() -> None:
    settings = GatewaySettings(env="dev")
    assert settings.otel_exporter == "none"
    assert settings.otel_endpoint is None
    assert Tracing.create("gateway", settings.otel_exporter) is TRACING_OFF
    runtime = ServiceRuntime(settings)
    assert runtime.tracing is TRACING_OFF
    app = runtime.create_app(title="t")
    assert TracingMiddleware not in [middleware.cls for middleware in app.user_middleware]


async def test_off_hooks_add_nothing_and_publish_as_before() -> None:
    stored = entry()
    assert ENTRY_HEADERS not in stored
    assert stored == entry_envelope(stored).model_dump(mode="json")  # the bare envelope, as before
    assert current_trace_headers() == {}
    broker = FakeBroker()
    db = open_store(None, "unit-tracing-off").db
    await db["things"].insert_one({"_id": "a1", OUTBOX: [stored]})
    relay = OutboxRelay(db, ["things"], EventBus(broker, Topology("unit")))  # type: ignore[arg-type]
    assert await relay.sweep() == 1
    assert broker.published == [{"correlation_id": "c1", "appeal_id": "a1"}]
    with TRACING_OFF.consuming({}, "q", "m1"), TRACING_OFF.span("x"), continued(None):
        assert not trace.get_current_span().get_span_context().is_valid


def test_a_service_with_tracing_off_never_loads_the_sdk_nor_wraps_smtp() -> None:
    code = (
        "import sys, aiosmtplib\n"
        "from services.notify.app import create_app\n"
        "from services.notify.settings import NotifySettings\n"
        "create_app(NotifySettings(env='dev'))\n"
        "assert not [m for m in sys.modules if m.startswith('opentelemetry.sdk')], 'sdk loaded'\n"
        "assert not getattr(aiosmtplib.send, '__appeals_traced__', False), 'smtp wrapped'\n"
    )
    env = {**os.environ, "APPEALS_LOG_JSON": "true"}
    env.pop("APPEALS_OTEL_EXPORTER", None)
    env.pop("NOTIFY_OTEL_EXPORTER", None)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]


async def test_a_failing_handler_marks_its_consumer_span() -> None:
    tracing, exporter = traced()
    broker = RabbitBroker()
    attempts: list[int] = []

    async def fails(envelope: Envelope, payload: AppealRejectedV1) -> None:
        attempts.append(1)
        raise RuntimeError("store away")

    topology = Topology("unit")
    consumer = EventConsumer(
        broker, topology, "svc", {EventType.APPEAL_REJECTED: fails}, max_attempts=1, tracing=tracing
    )
    dead: list[dict[str, Any]] = []

    @broker.subscriber(
        RabbitQueue(consumer.dead_letter_queue.name, routing_key=consumer.queue.name),
        topology.dead_letter_exchange,
    )
    async def park(message: RabbitMessage) -> None:
        dead.append(dict(message.headers or {}))

    event = entry_envelope(entry("a9"))
    async with TestRabbitBroker(broker) as test_broker:
        await test_broker.publish(event.model_dump_json().encode(), queue=consumer.queue, message_id=event.id)
    (span,) = [span for span in exporter.get_finished_spans() if span.kind is SpanKind.CONSUMER]
    assert attempts == [1] and len(dead) == 1
    assert span.name == "process appeal.rejected"
    assert span.parent is None  # no traceparent in the message: a trace of its own
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None and span.attributes["appeals.outcome"] == "dead_lettered"
    assert [event.name for event in span.events] == ["exception"]
    tracing.shutdown()


# -- the pieces ------------------------------------------------------------------------------


async def test_outbox_entry_keeps_the_trace_beside_the_envelope_and_the_relay_continues_it() -> None:
    tracing, exporter = traced()
    assert tracing.tracer is not None
    with tracing.tracer.start_as_current_span("request") as request:
        stored = entry()
    trace_id = format(request.get_span_context().trace_id, "032x")
    span_id = format(request.get_span_context().span_id, "016x")
    assert ids(stored[ENTRY_HEADERS]["traceparent"]) == (trace_id, span_id)
    envelope = entry_envelope(stored)
    assert "traceparent" not in envelope.model_dump_json() and ENTRY_HEADERS not in envelope.model_dump()

    # Later, from the sweep (no span current): the publish is a child of the stored request span.
    broker = FakeBroker()
    db = open_store(None, "unit-tracing-relay").db
    await db["things"].insert_one({"_id": "a1", OUTBOX: [stored]})
    relay = OutboxRelay(db, ["things"], EventBus(broker, Topology("unit"), tracing))  # type: ignore[arg-type]
    assert await asyncio.create_task(relay.sweep()) == 1
    (publish,) = [span for span in exporter.get_finished_spans() if span.kind is SpanKind.PRODUCER]
    assert hex_ids(publish)[0] == trace_id and hex_ids(publish)[2] == span_id
    assert publish.name == "publish appeal.rejected"
    headers = broker.published[0]
    assert ids(headers["traceparent"]) == (trace_id, hex_ids(publish)[1])
    assert headers["correlation_id"] == "c1" and headers["appeal_id"] == "a1"
    tracing.shutdown()


async def test_server_span_continues_the_callers_traceparent_and_skips_probes() -> None:
    tracing, exporter = traced()
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: str) -> dict[str, str]:
        return {"traceparent": current_trace_headers()["traceparent"]}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    app.add_middleware(TracingMiddleware, tracing=tracing)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        given = f"00-{GIVEN_TRACE}-{GIVEN_PARENT}-01"
        answer = await client.get("/items/7", headers={"traceparent": given})
        assert (await client.get("/health")).status_code == 200
        assert (await client.get("/nowhere")).status_code == 404
    spans = exporter.get_finished_spans()
    assert [span.name for span in spans] == ["GET /items/{item_id}", "GET"]
    server = spans[0]
    assert server.kind is SpanKind.SERVER
    assert hex_ids(server)[0] == GIVEN_TRACE and hex_ids(server)[2] == GIVEN_PARENT
    assert server.attributes is not None and server.attributes["http.response.status_code"] == 200
    assert server.attributes["http.route"] == "/items/{item_id}"
    assert ids(answer.json()["traceparent"]) == (GIVEN_TRACE, hex_ids(server)[1])
    assert spans[1].attributes is not None and spans[1].attributes["http.response.status_code"] == 404
    tracing.shutdown()


# -- the whole chain over the real broker ----------------------------------------------------


@pytest.fixture
async def mail() -> AsyncIterator[MailSink]:
    with MailSink("127.0.0.1", free_port()) as sink:
        yield sink


def chain(
    rabbit_url: str, namespace: str, tracing: Tracing, mail: MailSink
) -> tuple[list[ServiceRuntime], FastAPI]:
    common: dict[str, Any] = {"env": "dev", "rabbit_url": rabbit_url, "namespace": namespace, "prefetch": 8}
    gateway = ServiceRuntime(GatewaySettings(**common), outbox_collections=("things",), tracing=tracing)
    worker = ServiceRuntime(WorkerSettings(**common), outbox_collections=("things",), tracing=tracing)
    mailer = ServiceRuntime(MailerSettings(**common), tracing=tracing)

    router = APIRouter()

    @router.post("/things/{thing_id}", status_code=201)
    async def submit(thing_id: str) -> dict[str, str]:
        event = entry(thing_id)
        await gateway.db["things"].insert_one({"_id": thing_id, OUTBOX: [event]})
        await gateway.relay.flush("things", thing_id)
        return {"id": thing_id}

    async def on_rejected(envelope: Envelope, payload: AppealRejectedV1) -> None:
        closed = AppealClosedV1(
            appeal_id=payload.appeal_id,
            number=payload.number,
            at=datetime.now(UTC),
            reason=ClosedReason.RATED,
        )
        event = outbox_entry(
            EventType.APPEAL_CLOSED,
            closed,
            source="worker",
            subject=payload.appeal_id,
            correlation_id=envelope.correlation_id,
        )
        await worker.db["things"].insert_one({"_id": payload.appeal_id, OUTBOX: [event]})
        await worker.relay.flush("things", payload.appeal_id)

    async def on_closed(envelope: Envelope, payload: AppealClosedV1) -> None:
        message = EmailMessage()
        message["From"], message["To"] = "no-reply@appeals.local", "resident@example.org"
        message["Subject"] = f"Appeal {payload.number} closed"
        message.set_content("closed")
        await aiosmtplib.send(message, hostname=mail.host, port=mail.port)

    worker.consume({EventType.APPEAL_REJECTED: on_rejected})
    mailer.consume({EventType.APPEAL_CLOSED: on_closed})
    return [gateway, worker, mailer], gateway.create_app(router, title="gateway")


async def test_http_request_publish_consume_and_smtp_are_one_trace(
    rabbit_url: str, namespace: str, mail: MailSink
) -> None:
    tracing, exporter = traced()
    runtimes, app = chain(rabbit_url, namespace, tracing, mail)
    for runtime in runtimes:
        await runtime.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            assert (await client.post("/things/a1")).status_code == 201
        await mail.wait_for(lambda messages: len(messages) == 1, timeout=20)

        async def all_spans() -> tuple[ReadableSpan, ...] | None:
            spans = exporter.get_finished_spans()
            return spans if sum(span.kind is SpanKind.CONSUMER for span in spans) == 2 else None

        spans = await eventually(all_spans, timeout=10)
    finally:
        for runtime in reversed(runtimes):
            await runtime.stop()

    by_name = {span.name: span for span in spans}
    expected = [
        ("POST /things/{thing_id}", SpanKind.SERVER),
        ("publish appeal.rejected", SpanKind.PRODUCER),
        ("process appeal.rejected", SpanKind.CONSUMER),
        ("publish appeal.closed", SpanKind.PRODUCER),
        ("process appeal.closed", SpanKind.CONSUMER),
        ("smtp send", SpanKind.CLIENT),
    ]
    assert sorted(by_name) == sorted(name for name, _ in expected), [span.name for span in spans]
    assert len(spans) == len(expected)
    trace_ids = {hex_ids(span)[0] for span in spans}
    assert len(trace_ids) == 1, "one trace from the request to the e-mail"
    parent: str | None = None
    for name, kind in expected:
        span = by_name[name]
        assert span.kind is kind, name
        assert hex_ids(span)[2] == parent, f"{name} is the child of the span before it"
        parent = hex_ids(span)[1]
    consumed = by_name["process appeal.rejected"].attributes
    assert consumed is not None
    assert consumed["messaging.destination.name"] == f"{namespace}.worker"
    assert consumed["appeals.appeal_id"] == "a1"
    assert by_name["smtp send"].attributes == {
        "network.protocol.name": "smtp",
        "server.address": mail.host,
        "server.port": mail.port,
    }


async def test_with_tracing_off_the_chain_runs_without_trace_headers(
    rabbit_url: str, namespace: str, mail: MailSink
) -> None:
    runtimes, app = chain(rabbit_url, namespace, TRACING_OFF, mail)
    gateway = runtimes[0]
    seen: list[dict[str, Any]] = []

    @gateway.broker.subscriber(
        RabbitQueue(f"{namespace}.spy", auto_delete=True, routing_key="appeal.*"),
        gateway.topology.events_exchange,
    )
    async def spy(message: RabbitMessage) -> None:
        seen.append(dict(message.headers or {}))

    for runtime in runtimes:
        await runtime.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            assert (await client.post("/things/a2")).status_code == 201
        await mail.wait_for(lambda messages: len(messages) == 1, timeout=20)

        async def both() -> list[dict[str, Any]] | None:
            return seen if len(seen) == 2 else None

        await eventually(both, timeout=10)
    finally:
        for runtime in reversed(runtimes):
            await runtime.stop()
    assert [headers["appeal_id"] for headers in seen] == ["a2", "a2"]
    assert not any("traceparent" in headers for headers in seen)
