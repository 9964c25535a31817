from __future__ import annotations

from fastapi import FastAPI

from libs.common.auth import TokenVerifier
from libs.common.clock import Clock, system_clock
from libs.common.runtime import ServiceRuntime
from services.intake.flows import APPEALS, AppealFlows
from services.intake.handlers import handlers
from services.intake.routes import appeals_router, dev_router, media_router, public_router
from services.intake.settings import IntakeSettings
from services.intake.upstream import Upstream

DESCRIPTION = """The public gateway of the citizen appeals platform.

Citizens submit complaints, proposals, gratitude and questions with photos and a place,
follow their status and the organisation's answer. Errors are RFC 9457 problem+json.
"""


def create_app(settings: IntakeSettings, clock: Clock = system_clock) -> FastAPI:
    runtime = ServiceRuntime(settings, outbox_collections=(APPEALS,))
    upstream = Upstream(settings)
    flows = AppealFlows(runtime.db, runtime.relay, clock, upstream, settings.max_media_per_appeal)
    runtime.consume(handlers(flows))
    runtime.on_startup(flows.ensure_indexes)
    runtime.on_shutdown(upstream.close)
    routers = [appeals_router(flows), media_router(flows, upstream, settings), public_router(upstream)]
    if settings.is_dev:
        routers.append(dev_router(settings))
    app = runtime.create_app(*routers, title="Citizen appeals API", description=DESCRIPTION)
    app.state.verifier = TokenVerifier(
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        jwks_url=settings.jwks_url,
        dev_secret=settings.signing_key,
    )
    return app
