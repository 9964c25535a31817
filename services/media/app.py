from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from libs.common.clock import Clock, system_clock
from libs.common.runtime import ServiceRuntime
from services.media.flows import MediaFlows
from services.media.handlers import handlers
from services.media.retention import Retention
from services.media.routes import internal_router
from services.media.scheduled import orphan_sweeper
from services.media.settings import MediaSettings
from services.media.storage import ObjectStore, S3ObjectStore


def create_app(
    settings: MediaSettings, clock: Clock = system_clock, objects: ObjectStore | None = None
) -> FastAPI:
    runtime = ServiceRuntime(settings)
    objects = objects or S3ObjectStore(settings)
    flows = MediaFlows(runtime.db, objects, settings, clock)
    retention = Retention(runtime.db, flows, clock)
    runtime.consume(handlers(retention))
    runtime.on_startup(flows.ensure_indexes)
    runtime.on_startup(retention.ensure_indexes)
    runtime.on_startup(objects.ensure_bucket)  # also refuses a bucket with a public policy
    runtime.ready_check("object_store", objects.ping)
    if settings.orphan_retention_hours > 0:
        keep_for = timedelta(hours=settings.orphan_retention_hours)
        runtime.background(orphan_sweeper(retention, keep_for, settings.orphan_sweep_seconds))
    return runtime.create_app(
        internal_router(flows, retention, settings),
        title="Media service",
        description="Checks uploads by content, strips metadata (EXIF/GPS), makes web and thumbnail "
        "copies, stores them privately in S3 and signs short-lived links.",
    )
