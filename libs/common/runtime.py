"""Wiring every service repeats: store, broker, consumer, outbox relay, HTTP app, lifecycle.

Nothing connects at import time: connections open in the FastAPI lifespan and close with it.
The broker is connected in the background, retried with backoff until it answers: a service
started while RabbitMQ is away serves HTTP (`/health`, and `/ready` once its store answers) and
starts consuming when the broker comes. `/ready` gates on what serving HTTP needs, the store (and
any check a service adds); the broker's state is reported in its body (docs/operations.md).
"""

from __future__ import annotations

import asyncio
import gc
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from fastapi import APIRouter, FastAPI
from fastapi_offline import FastAPIOffline
from prometheus_client import Gauge

from libs.common.http import (
    DOCS_STATIC,
    CorrelationMiddleware,
    ReadyCheck,
    SecurityHeadersMiddleware,
    install_problem_handlers,
    ops_router,
)
from libs.common.logging import configure_logging, get_logger
from libs.common.messaging import EventBus, EventConsumer, Handler, create_broker
from libs.common.outbox import OutboxRelay
from libs.common.periodic import every
from libs.common.settings import ServiceSettings
from libs.common.store import Store, open_store
from libs.common.topology import Topology
from libs.common.tracing import Tracing, TracingMiddleware

log = get_logger(__name__)

BROKER_CONNECTED = Gauge(
    "appeals_broker_connected", "1 while the service's broker answers (updated by /ready)", ["service"]
)

Hook = Callable[[], Awaitable[None]]
# First broker connection: retried after 0.5 s, doubling up to 30 s, for as long as it takes.
CONNECT_FIRST_DELAY = 0.5
CONNECT_MAX_DELAY = 30.0
# One attempt: an address that accepts TCP but never speaks AMQP would otherwise hang start-up.
# aio-pika's own timeout: cancelling its connect from outside leaks a reconnecting connection.
CONNECT_TIMEOUT = 10.0
S = TypeVar("S", bound=ServiceSettings)


class ServiceRuntime:
    def __init__(
        self,
        settings: ServiceSettings,
        *,
        outbox_collections: tuple[str, ...] = (),
        tracing: Tracing | None = None,
    ) -> None:
        self.settings = settings
        self.name = settings.service_name
        self.topology = Topology(settings.namespace, settings.queue_kind)
        # Off unless settings name an exporter (tests pass their own, with an in-memory exporter).
        self.tracing = tracing or Tracing.create(
            self.name, settings.otel_exporter, settings.otel_endpoint, namespace=settings.namespace
        )
        self.broker = create_broker(settings.rabbit_url, settings.prefetch, connect_timeout=CONNECT_TIMEOUT)
        self.bus = EventBus(self.broker, self.topology, self.tracing)
        self.store: Store = open_store(settings.mongo_url, settings.database_name)
        self.db = self.store.db
        self.relay = OutboxRelay(
            self.db,
            list(outbox_collections),
            self.bus,
            pull_delay=settings.outbox_pull_delay_seconds,
            sweep_grace=settings.outbox_sweep_grace_seconds,
        )
        self.consumer: EventConsumer | None = None
        self._startup: list[Hook] = []
        self._shutdown: list[Hook] = []
        self._loops: list[Callable[[], Coroutine[Any, Any, None]]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._ready_checks: dict[str, ReadyCheck] = {"store": self.store.ping}
        self.broker_connected = asyncio.Event()  # set once connected, declared and consuming

    def consume(self, handlers: Mapping[str, Handler]) -> None:
        """Consume the service's queue with `handlers` (event type → handler), retrying up to
        `max_attempts` times `retry_backoff_seconds` apart before dead-lettering."""
        self.consumer = EventConsumer(
            self.broker,
            self.topology,
            self.name,
            handlers,
            max_attempts=self.settings.max_attempts,
            retry_backoff_seconds=self.settings.retry_backoff_seconds,
            tracing=self.tracing,
        )

    def on_startup(self, hook: Hook) -> None:
        """Run `hook` at start, once the store and broker are set up."""
        self._startup.append(hook)

    def ready_check(self, name: str, check: ReadyCheck) -> None:
        """Another dependency `/ready` must see answering (e.g. the object store)."""
        self._ready_checks[name] = check

    def on_shutdown(self, hook: Hook) -> None:
        """Run `hook` at stop, after the loops are cancelled and before the broker and store close."""
        self._shutdown.append(hook)

    def background(self, loop: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Periodic work run for the life of the process (a `libs.common.periodic.every` loop):
        started once the broker is connected, cancelled on shutdown."""
        self._loops.append(loop)

    async def start(self) -> None:
        """Store hooks, then the broker: connected here when it answers (so nothing published
        after start is missed), else in the background with backoff while HTTP serves."""
        await self.relay.ensure_indexes()
        for hook in self._startup:
            await hook()
        try:
            await self._connect_broker()
        except Exception as exc:
            self._tasks = [asyncio.create_task(self._keep_connecting(exc), name=f"{self.name}-broker")]
        else:
            self._run_loops(attempts=1)
        log.info("service started", durable_store=self.store.durable, namespace=self.settings.namespace)

    async def _keep_connecting(self, error: Exception) -> None:
        delay, attempt = CONNECT_FIRST_DELAY, 1
        while True:
            log.warning(
                "broker unreachable, retrying",
                attempt=attempt,
                retry_in_seconds=delay,
                error=f"{type(error).__name__}: {error}",
            )
            await asyncio.sleep(delay)
            delay, attempt = min(delay * 2, CONNECT_MAX_DELAY), attempt + 1
            try:
                await self._connect_broker()
            except Exception as exc:  # refused, unreachable, bad credentials: all worth a retry
                error = exc
            else:
                self._run_loops(attempts=attempt)
                return

    def _run_loops(self, *, attempts: int) -> None:
        self.broker_connected.set()
        if attempts > 1:
            log.info("broker connected, consuming", attempts=attempts)
        sweep = self.settings.outbox_sweep_seconds
        loops = [lambda: every(sweep, self.relay.sweep, name="outbox sweep"), *self._loops]
        self._tasks += [asyncio.create_task(loop(), name=f"{self.name}-loop") for loop in loops]

    async def _connect_broker(self) -> None:
        await self.broker.connect()  # bounded by CONNECT_TIMEOUT (aio-pika's own, which cleans up)
        await self.broker.declare_exchange(self.topology.events_exchange)
        if self.consumer is not None:
            await self.consumer.declare()
        await self.broker.start()

    async def stop(self) -> None:
        """Cancel the background tasks, run the shutdown hooks, close the broker and the store,
        flush spans."""
        first = list(self._tasks)  # the connecting task may add the loops before it sees the cancel
        for task in first:
            task.cancel()
        await asyncio.gather(*first, return_exceptions=True)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for hook in self._shutdown:
            await hook()
        await self.relay.close()
        await self.broker.stop()
        await self.store.close()
        self.tracing.shutdown()  # flushes the spans still queued

    async def broker_ready(self) -> bool:
        """True when the broker is connected and answers a ping within 2 seconds."""
        return self.broker_connected.is_set() and await self.broker.ping(timeout=2.0)

    async def broker_state(self) -> str:
        """ "up" or "down", for `/ready`'s body: reported, never gating (docs/operations.md)."""
        try:
            up = await self.broker_ready()
        except Exception:
            up = False
        BROKER_CONNECTED.labels(self.name).set(1 if up else 0)
        return "up" if up else "down"

    def create_app(self, *routers: APIRouter, title: str, description: str = "") -> FastAPI:
        """The service's FastAPI app: problem+json errors, correlation and security headers, tracing
        if on, /health and /ready, then `routers`; the lifespan starts and stops this runtime."""

        @asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            """Start the runtime before serving, stop it after."""
            await self.start()
            try:
                yield
            finally:
                await self.stop()

        # The interactive docs (/docs, /redoc) with Swagger UI's and ReDoc's scripts served by the
        # service itself (fastapi-offline), not a CDN: they work on a network without internet.
        app = FastAPIOffline(
            title=title, description=description, version="1.0.0", lifespan=lifespan, static_url=DOCS_STATIC
        )
        install_problem_handlers(app)
        app.add_middleware(CorrelationMiddleware)
        app.add_middleware(SecurityHeadersMiddleware)
        if self.tracing.enabled:  # outermost: the server span covers everything else
            app.add_middleware(TracingMiddleware, tracing=self.tracing)
        app.include_router(ops_router(self._ready_checks, {"broker": self.broker_state}))
        for router in routers:
            app.include_router(router)
        app.state.runtime = self
        return app


# Container objects allocated and not yet freed before the collector's youngest pass runs (CPython's
# default is 700): a message's or request's objects are freed by reference counting long before
# 10,000 pile up, so young passes become rare (docs/performance.md, "The fourth round").
GC_YOUNG_THRESHOLD = 10_000


async def freeze_startup_heap() -> None:
    """Moves every object alive now (modules, settings, routing's catalogue, pymorphy3's
    dictionary...) into the collector's permanent generation, after a full collection, and makes
    its young passes rarer (`GC_YOUNG_THRESHOLD`): its passes then scan only what the work since
    made (a full pass took about 80 ms in the bench's services, young ones 3-5 % of their CPU;
    docs/performance.md). For the last start-up hook of a service's own process: garbage among
    frozen objects is never collected (`gc.freeze`, Python's documentation)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def run_service(settings_cls: type[S], build_app: Callable[[S], FastAPI]) -> None:
    """The body of every `python -m services.<name>`: settings, logging, app, uvicorn.

    SIGTERM/SIGINT stop it gracefully: in-flight handlers finish, then connections close.
    """
    import uvicorn
    from uvicorn.config import STARTUP_FAILURE

    from libs.common.server import QuietServer, server_options

    settings = settings_cls()
    configure_logging(settings.service_name, settings.log_level, settings.log_json)
    app = build_app(settings)
    runtime = getattr(app.state, "runtime", None)  # the website has none
    if isinstance(runtime, ServiceRuntime):
        runtime.on_startup(freeze_startup_heap)  # this process is the service: after its set-up
    config = uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=20,
        loop="uvloop",  # libuv's event loop: less CPU per broker delivery and store round trip
        **server_options(settings.http_keep_alive_seconds, settings.http_header_timeout_seconds),
    )
    server = QuietServer(config)
    server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)  # as `uvicorn.run`: a start-up that failed exits non-zero
