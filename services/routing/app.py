from __future__ import annotations

from fastapi import FastAPI

from libs.common.clock import Clock, system_clock
from libs.common.runtime import ServiceRuntime
from services.routing.flows import ASSIGNMENTS, CatalogueStore, RoutingFlows
from services.routing.handlers import handlers
from services.routing.routes import internal_router
from services.routing.settings import RoutingSettings


def create_app(settings: RoutingSettings, clock: Clock = system_clock) -> FastAPI:
    runtime = ServiceRuntime(settings, outbox_collections=(ASSIGNMENTS,))
    catalogue = CatalogueStore(runtime.db)
    flows = RoutingFlows(runtime.db, catalogue, runtime.relay, clock)
    runtime.consume(handlers(flows))

    async def seed_catalogue() -> None:
        await catalogue.load_file(settings.catalogue_path)

    runtime.on_startup(seed_catalogue)
    return runtime.create_app(
        internal_router(catalogue, settings.internal_token.get_secret_value()),
        title="Routing service",
        description="Decides which organisation answers an appeal.",
    )
