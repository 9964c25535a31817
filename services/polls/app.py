from __future__ import annotations

from fastapi import FastAPI

from libs.common.clock import Clock, system_clock
from libs.common.runtime import ServiceRuntime
from services.polls.flows import POLLS, PollFlows
from services.polls.handlers import handlers
from services.polls.routes import internal_router
from services.polls.scheduled import closing_loop
from services.polls.settings import PollsSettings

DESCRIPTION = """Polls and public hearings: drafts, publication, one ballot per resident, results
published when the poll closes (internal API; the gateway is the public door)."""


def create_app(settings: PollsSettings, clock: Clock = system_clock) -> FastAPI:
    runtime = ServiceRuntime(settings, outbox_collections=(POLLS,))
    flows = PollFlows(
        runtime.db,
        runtime.relay,
        clock,
        replica_id=settings.replica_id,
        lease_seconds=settings.lease_seconds,
        close_grace_seconds=settings.close_grace_seconds,
    )
    runtime.consume(handlers(flows))
    runtime.on_startup(flows.ensure_indexes)
    runtime.background(lambda: closing_loop(flows, settings.tick_seconds, settings.batch_size))
    app = runtime.create_app(internal_router(flows, settings), title="Polls service", description=DESCRIPTION)
    app.state.flows = flows
    return app
