"""OpenTelemetry traces across HTTP and the broker: one trace from a request to its last effect.

Off by default (`<SERVICE>_OTEL_EXPORTER` / `APPEALS_OTEL_EXPORTER` = `none`): nothing is set up,
the SDK is not even imported, and every hook below is an empty context. When on:

- a SERVER span per HTTP request (`TracingMiddleware`; `/health`, `/ready`, `/metrics` are not
  traced), continuing the caller's W3C `traceparent` if it sends one;
- a PRODUCER span per published event (`Tracing.publishing`), whose `traceparent` /
  `tracestate` go into the message headers beside `correlation_id` and `appeal_id`;
- a CONSUMER span per delivery (`Tracing.consuming`), child of the producer span found in the
  message headers; a retried delivery carries the same headers, so every attempt is in the trace;
- outbox entries keep the `traceparent` of the span that stored them beside the envelope, never
  in it (`current_trace_headers`, `continued`): a relay publishing later, even a sweep after a
  restart, continues the trace of the request or delivery that made the change;
- `aiosmtplib.send` is a CLIENT span (notify's e-mail), child of whatever span is current.

The span's trace id is bound as `trace_id` in the structured logs of the request or delivery.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

import structlog
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

    from libs.common.events import Envelope

Exporter = Literal["none", "console", "otlp"]

TRACE_HEADERS = ("traceparent", "tracestate")
UNTRACED_PATHS = frozenset({"/health", "/ready", "/metrics"})
INSTRUMENTATION = "citizen-appeals"

# W3C Trace Context only, whatever OTEL_PROPAGATORS says: the headers are part of our messages.
_PROPAGATOR = TraceContextTextMapPropagator()


class Tracing:
    """A service's tracer, or none at all (`TRACING_OFF`): then every hook does nothing."""

    def __init__(self, provider: TracerProvider | None = None) -> None:
        self.provider = provider
        self.tracer: trace.Tracer | None = provider.get_tracer(INSTRUMENTATION) if provider else None
        self._shut_down = False

    @property
    def enabled(self) -> bool:
        """True when a tracer is configured (spans are made and exported)."""
        return self.tracer is not None

    @classmethod
    def create(
        cls,
        service: str,
        exporter: Exporter = "none",
        endpoint: str | None = None,
        *,
        namespace: str | None = None,
        span_exporter: SpanExporter | None = None,
    ) -> Tracing:
        """A tracer exporting to the console or OTLP (HTTP/protobuf); `span_exporter` (tests)
        gets every span synchronously. `none` without a `span_exporter` is `TRACING_OFF`."""
        if exporter == "none" and span_exporter is None:
            return TRACING_OFF
        # Imported only when on: a service with tracing off never loads the SDK.
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            ConsoleSpanExporter,
            SimpleSpanProcessor,
        )

        attributes = {"service.name": service}
        if namespace:
            attributes["service.namespace"] = namespace
        # The SDK also reads OTEL_RESOURCE_ATTRIBUTES and OTEL_TRACES_SAMPLER (default: parent-based, all).
        provider = TracerProvider(resource=Resource.create(attributes))
        if span_exporter is not None:
            provider.add_span_processor(SimpleSpanProcessor(span_exporter))
        if exporter == "console":
            provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter(service_name=service)))
        elif exporter == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            # endpoint None: the exporter reads OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT, else localhost:4318.
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        tracing = cls(provider)
        instrument_aiosmtplib(tracing)
        return tracing

    def shutdown(self) -> None:
        """Flush the spans still queued and stop exporting (at service stop)."""
        global _smtp_tracing
        if _smtp_tracing is self:
            _smtp_tracing = None
        if self.provider is not None and not self._shut_down:
            self._shut_down = True  # runtimes sharing one tracing (tests) each call this
            self.provider.shutdown()

    @contextmanager
    def publishing(self, envelope: Envelope, destination: str, headers: dict[str, Any]) -> Iterator[None]:
        """A producer span around one publish; its `traceparent` is added to `headers`."""
        if self.tracer is None:
            yield
            return
        attributes = {
            "messaging.system": "rabbitmq",
            "messaging.operation.type": "send",
            "messaging.destination.name": destination,
            "messaging.rabbitmq.destination.routing_key": envelope.type,
            "messaging.message.id": envelope.id,
            "appeals.event.type": envelope.type,
            "appeals.correlation_id": envelope.correlation_id,
            "appeals.appeal_id": envelope.subject,
        }
        with self.tracer.start_as_current_span(
            f"publish {envelope.type}", kind=SpanKind.PRODUCER, attributes=attributes
        ):
            _PROPAGATOR.inject(headers)
            yield

    @contextmanager
    def consuming(self, headers: Mapping[str, Any], queue: str, message_id: str | None) -> Iterator[None]:
        """A consumer span around one delivery, child of the producer span in its headers."""
        if self.tracer is None:
            yield
            return
        attributes: dict[str, str | int] = {
            "messaging.system": "rabbitmq",
            "messaging.operation.type": "process",
            "messaging.destination.name": queue,
        }
        if message_id:
            attributes["messaging.message.id"] = message_id
        if "x-attempt" in headers:
            attributes["appeals.attempt"] = int(headers["x-attempt"])
        with (
            self.tracer.start_as_current_span(
                f"process {queue}",
                context=_extract(headers),
                kind=SpanKind.CONSUMER,
                attributes=attributes,
            ) as span,
            _trace_id_logged(span),
        ):
            yield

    @contextmanager
    def span(self, name: str, kind: SpanKind = SpanKind.INTERNAL, **attributes: str | int) -> Iterator[None]:
        """A span of its own around some work (a child of the current span, if any)."""
        if self.tracer is None:
            yield
            return
        with self.tracer.start_as_current_span(name, kind=kind, attributes=attributes):
            yield


TRACING_OFF = Tracing()
_smtp_tracing: Tracing | None = None


def current_trace_headers() -> dict[str, str]:
    """The current span's `traceparent` (and `tracestate`), to keep beside a stored event; {} if none."""
    if not trace.get_current_span().get_span_context().is_valid:
        return {}
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier


@contextmanager
def continued(headers: Mapping[str, Any] | None) -> Iterator[None]:
    """Make the span these headers name the current parent (an outbox relay's publish)."""
    if not headers:
        yield
        return
    token = otel_context.attach(_extract(headers))
    try:
        yield
    finally:
        otel_context.detach(token)


def note_event(envelope: Envelope) -> None:
    """Name the current consumer span after the event it turned out to carry."""
    span = trace.get_current_span()
    if span.is_recording():
        span.update_name(f"process {envelope.type}")
        span.set_attributes(
            {
                "messaging.rabbitmq.destination.routing_key": envelope.type,
                "appeals.event.type": envelope.type,
                "appeals.correlation_id": envelope.correlation_id,
                "appeals.appeal_id": envelope.subject,
            }
        )


def note_failure(exc: BaseException, outcome: str) -> None:
    """Mark the current span failed (the handler's error is caught: the message is retried or parked)."""
    span = trace.get_current_span()
    if span.is_recording():
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {outcome}"))
        span.set_attribute("appeals.outcome", outcome)


class TracingMiddleware:
    """A SERVER span per HTTP request (pure ASGI: the route runs inside the span's context)."""

    def __init__(self, app: ASGIApp, tracing: Tracing) -> None:
        self.app = app
        self.tracer = tracing.tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.tracer is None or scope["type"] != "http" or scope["path"] in UNTRACED_PATHS:
            await self.app(scope, receive, send)
            return
        wanted = {name.encode() for name in TRACE_HEADERS}
        carrier = {
            key.decode("latin-1"): value.decode("latin-1")
            for key, value in scope.get("headers") or []
            if key in wanted
        }
        method = scope["method"]
        attributes = {"http.request.method": method, "url.path": scope["path"], "url.scheme": scope["scheme"]}
        with (
            self.tracer.start_as_current_span(
                method, context=_PROPAGATOR.extract(carrier), kind=SpanKind.SERVER, attributes=attributes
            ) as span,
            _trace_id_logged(span),
        ):

            async def send_traced(message: Message) -> None:
                """Records the response status on the server span; 5xx marks it an error."""
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))
                await send(message)

            try:
                await self.app(scope, receive, send_traced)
            finally:
                route = getattr(scope.get("route"), "path", None)
                if isinstance(route, str):
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.route", route)


def instrument_aiosmtplib(tracing: Tracing) -> None:
    """Trace `aiosmtplib.send` (notify's e-mail) as a CLIENT span; the last tracing set up wins.

    Wrapped once per process, as OpenTelemetry's own instrumentations do; the wrapper is a plain
    pass-through while no tracing is set up (or after its shutdown).
    """
    global _smtp_tracing
    _smtp_tracing = tracing
    import aiosmtplib

    original = aiosmtplib.send
    if getattr(original, "__appeals_traced__", False):
        return

    @functools.wraps(original)
    async def send(*args: Any, **kwargs: Any) -> Any:
        """aiosmtplib's send inside a client span `smtp send` when tracing is on."""
        tracer = _smtp_tracing.tracer if _smtp_tracing is not None else None
        if tracer is None:
            return await original(*args, **kwargs)
        attributes: dict[str, str | int] = {"network.protocol.name": "smtp"}
        if kwargs.get("hostname"):
            attributes["server.address"] = str(kwargs["hostname"])
        if kwargs.get("port"):
            attributes["server.port"] = int(kwargs["port"])
        with tracer.start_as_current_span("smtp send", kind=SpanKind.CLIENT, attributes=attributes):
            return await original(*args, **kwargs)

    send.__appeals_traced__ = True  # type: ignore[attr-defined]
    aiosmtplib.send = send


def _extract(headers: Mapping[str, Any]) -> otel_context.Context:
    """The parent context named by `traceparent` in message or stored headers (str or bytes)."""
    carrier: dict[str, str] = {}
    for name in TRACE_HEADERS:
        value = headers.get(name)
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        if isinstance(value, str):
            carrier[name] = value
    return _PROPAGATOR.extract(carrier)


@contextmanager
def _trace_id_logged(span: trace.Span) -> Iterator[None]:
    span_context = span.get_span_context()
    if not span_context.is_valid:
        yield
        return
    with structlog.contextvars.bound_contextvars(trace_id=format(span_context.trace_id, "032x")):
        yield
