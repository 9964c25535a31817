from __future__ import annotations

from fastapi import FastAPI

from libs.common.clock import Clock, system_clock
from libs.common.runtime import ServiceRuntime
from services.routing.catalogue import CatalogueStore
from services.routing.clusters import ClusterFlows
from services.routing.flows import RoutingFlows
from services.routing.handlers import handlers
from services.routing.records import ASSIGNMENTS
from services.routing.routes import internal_router
from services.routing.settings import RoutingSettings
from services.routing.triage import TriageFlows

DESCRIPTION = """Moderates appeals and decides which organisation answers: by topic and place
(municipal boundaries), with reassignment, escalation, duplicate clusters and a versioned catalogue."""


def create_app(settings: RoutingSettings, clock: Clock = system_clock) -> FastAPI:
    runtime = ServiceRuntime(settings, outbox_collections=(ASSIGNMENTS,))
    catalogue = CatalogueStore(
        runtime.db, clock, dev=settings.is_dev, recheck_seconds=settings.catalogue_recheck_seconds
    )
    clusters = ClusterFlows(runtime.db, catalogue, clock, settings)
    flows = RoutingFlows(runtime.db, catalogue, runtime.relay, clock, settings, clusters)
    triage = TriageFlows(flows, catalogue, clusters)
    runtime.consume(handlers(flows))

    async def prepare() -> None:
        await catalogue.ensure_indexes()
        await flows.ensure_indexes()
        await clusters.ensure_indexes()
        await catalogue.load_file(settings.catalogue_path)

    runtime.on_startup(prepare)
    return runtime.create_app(
        internal_router(catalogue, flows, clusters, settings, triage),
        title="Routing service",
        description=DESCRIPTION,
    )
