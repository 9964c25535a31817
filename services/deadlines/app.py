from __future__ import annotations

from fastapi import FastAPI

from libs.common.clock import Clock, system_clock
from libs.common.runtime import ServiceRuntime
from services.deadlines.flows import TIMERS, DeadlineFlows
from services.deadlines.handlers import handlers
from services.deadlines.scheduled import timer_loop
from services.deadlines.settings import DeadlinesSettings


def create_app(settings: DeadlinesSettings, clock: Clock = system_clock) -> FastAPI:
    runtime = ServiceRuntime(settings, outbox_collections=(TIMERS,))
    flows = DeadlineFlows(runtime.db, runtime.relay, clock)
    runtime.consume(handlers(flows))
    runtime.on_startup(flows.ensure_indexes)
    runtime.background(lambda: timer_loop(flows, settings.tick_seconds, settings.batch_size))
    return runtime.create_app(title="Deadlines service", description="Durable answer and response deadlines.")
