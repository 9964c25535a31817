from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from libs.common.clock import Clock, system_clock
from libs.common.runtime import ServiceRuntime
from services.deadlines.flows import TIMERS, DeadlineFlows
from services.deadlines.handlers import handlers
from services.deadlines.routes import internal_router
from services.deadlines.scheduled import timer_loop
from services.deadlines.service import Policy
from services.deadlines.settings import DeadlinesSettings

DESCRIPTION = """Durable deadlines of appeals: answer, first response, rating window; warnings and
overdue alerts; SLA statistics of organisations and topics (internal API)."""


def policy_of(settings: DeadlinesSettings) -> Policy:
    return Policy(
        warning_offsets=tuple(timedelta(hours=hours) for hours in settings.warning_offsets_hours),
        first_response_warning_offsets=tuple(
            timedelta(hours=hours) for hours in settings.first_response_warning_offsets_hours
        ),
        rating_window=timedelta(seconds=settings.rating_window_seconds),
        max_extensions_per_round=settings.max_extensions_per_round,
        max_extension_days=settings.max_extension_days,
    )


def create_app(settings: DeadlinesSettings, clock: Clock = system_clock) -> FastAPI:
    runtime = ServiceRuntime(settings, outbox_collections=(TIMERS,))
    flows = DeadlineFlows(
        runtime.db, runtime.relay, clock, replica_id=settings.replica_id, lease_seconds=settings.lease_seconds
    )
    runtime.consume(handlers(flows, policy_of(settings)))
    runtime.on_startup(flows.ensure_indexes)
    runtime.background(lambda: timer_loop(flows, settings.tick_seconds, settings.batch_size))
    app = runtime.create_app(
        internal_router(flows, settings), title="Deadlines service", description=DESCRIPTION
    )
    app.state.flows = flows
    return app
