"""Wiring every service repeats: store, broker, consumer, outbox relay, HTTP app, lifecycle.

Nothing connects at import time: connections open in the FastAPI lifespan and close with it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from fastapi import APIRouter, FastAPI

from libs.common.http import (
    CorrelationMiddleware,
    ReadyCheck,
    SecurityHeadersMiddleware,
    install_problem_handlers,
    ops_router,
)
from libs.common.logging import configure_logging, get_logger
from libs.common.messaging import EventBus, EventConsumer, Handler, create_broker
from libs.common.outbox import OutboxRelay
from libs.common.settings import ServiceSettings
from libs.common.store import Store, open_store
from libs.common.topology import Topology
from libs.common.tracing import Tracing, TracingMiddleware

log = get_logger(__name__)

Hook = Callable[[], Awaitable[None]]
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
        self.broker = create_broker(settings.rabbit_url, settings.prefetch)
        self.bus = EventBus(self.broker, self.topology, self.tracing)
        self.store: Store = open_store(settings.mongo_url, settings.database_name)
        self.db = self.store.db
        self.relay = OutboxRelay(self.db, list(outbox_collections), self.bus)
        self.consumer: EventConsumer | None = None
        self._startup: list[Hook] = []
        self._shutdown: list[Hook] = []
        self._loops: list[Callable[[], Coroutine[Any, Any, None]]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._ready_checks: dict[str, ReadyCheck] = {"broker": self.broker_ready, "store": self.store.ping}

    def consume(self, handlers: Mapping[str, Handler]) -> None:
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
        self._startup.append(hook)

    def ready_check(self, name: str, check: ReadyCheck) -> None:
        """Another dependency `/ready` must see answering (e.g. the object store)."""
        self._ready_checks[name] = check

    def on_shutdown(self, hook: Hook) -> None:
        self._shutdown.append(hook)

    def background(self, loop: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """A coroutine run for the life of the process (scheduler ticks, sweeps)."""
        self._loops.append(loop)

    async def start(self) -> None:
        await self.relay.ensure_indexes()
        for hook in self._startup:
            await hook()
        await self.broker.connect()
        await self.broker.declare_exchange(self.topology.events_exchange)
        if self.consumer is not None:
            await self.consumer.declare()
        await self.broker.start()
        loops = [lambda: self.relay.run(self.settings.outbox_sweep_seconds), *self._loops]
        self._tasks = [asyncio.create_task(loop(), name=f"{self.name}-loop") for loop in loops]
        log.info("service started", durable_store=self.store.durable, namespace=self.settings.namespace)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for hook in self._shutdown:
            await hook()
        await self.broker.stop()
        await self.store.close()
        self.tracing.shutdown()  # flushes the spans still queued

    async def broker_ready(self) -> bool:
        return await self.broker.ping(timeout=2.0)

    def create_app(self, *routers: APIRouter, title: str, description: str = "") -> FastAPI:
        @asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            await self.start()
            try:
                yield
            finally:
                await self.stop()

        app = FastAPI(title=title, description=description, version="1.0.0", lifespan=lifespan)
        install_problem_handlers(app)
        app.add_middleware(CorrelationMiddleware)
        app.add_middleware(SecurityHeadersMiddleware)
        if self.tracing.enabled:  # outermost: the server span covers everything else
            app.add_middleware(TracingMiddleware, tracing=self.tracing)
        app.include_router(ops_router(self._ready_checks))
        for router in routers:
            app.include_router(router)
        app.state.runtime = self
        return app


def run_service(settings_cls: type[S], build_app: Callable[[S], FastAPI]) -> None:
    """The body of every `python -m services.<name>`: settings, logging, app, uvicorn.

    SIGTERM/SIGINT stop it gracefully: in-flight handlers finish, then connections close.
    """
    import uvicorn

    from libs.common.server import server_options

    settings = settings_cls()
    configure_logging(settings.service_name, settings.log_level, settings.log_json)
    uvicorn.run(
        build_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=20,
        **server_options(settings.http_keep_alive_seconds, settings.http_header_timeout_seconds),
    )
