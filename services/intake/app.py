from __future__ import annotations

import httpx
from fastapi import FastAPI

from libs.common.aggregate import Aggregate
from libs.common.auth import TokenVerifier
from libs.common.clock import Clock, system_clock
from libs.common.http import BodyLimitMiddleware, SecurityHeadersMiddleware
from libs.common.openapi import document_problems
from libs.common.runtime import ServiceRuntime
from services.intake.action_routes import action_router
from services.intake.actions import AppealWriter
from services.intake.api_docs import EXTRA_STATUSES, UPSTREAM_PREFIXES
from services.intake.flows import AppealFlows
from services.intake.gateway.catalogue_routes import catalogue_router
from services.intake.gateway.clients import InternalClients
from services.intake.gateway.media_routes import MEDIA_BODY_LIMIT, media_router
from services.intake.gateway.notify_routes import notify_router
from services.intake.gateway.polls_routes import polls_router
from services.intake.gateway.stats_routes import stats_router
from services.intake.gateway.template_routes import template_router
from services.intake.handlers import handlers
from services.intake.incident_routes import incident_router
from services.intake.open311 import install_open311_errors, open311_router
from services.intake.public_routes import PublicAppeals, public_appeals_router
from services.intake.ratelimit import RateLimit, WriteKind
from services.intake.records import APPEALS
from services.intake.routes import appeals_router, dev_router, public_router
from services.intake.scheduled import gauge_loop
from services.intake.service import Capacity
from services.intake.settings import IntakeSettings

DESCRIPTION = """The public gateway of the citizen appeals platform.

Citizens submit complaints, proposals, gratitude and questions with photos and a place,
follow their status and the organisation's answer. Errors are RFC 9457 problem+json.
"""


def create_app(
    settings: IntakeSettings,
    clock: Clock = system_clock,
    upstream_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """The gateway's app: the appeal aggregate (services/intake/) and the gateway's door to the
    other services (services/intake/gateway/), wired here. `upstream_transport` lets tests answer
    for routing, media, notify, polls and deadlines in-process (every internal client uses it)."""
    runtime = ServiceRuntime(settings, outbox_collections=(APPEALS,))
    # One client per internal service, built here and closed on shutdown; the aggregate sees
    # them only as its `Upstream` (topics, a file's metadata).
    clients = InternalClients(settings, upstream_transport)
    runtime.on_shutdown(clients.close)
    # One aggregate for the submit and the later changes: see AppealWriter.
    appeals = Aggregate(runtime.db, APPEALS, runtime.relay)
    flows = AppealFlows(
        runtime.db,
        appeals,
        clock,
        clients,
        settings.max_media_per_appeal,
        smtputf8=settings.mail_smtputf8,
        number_block=settings.number_block,
    )
    capacity = Capacity(
        max_comments=settings.max_comments_per_appeal,
        max_comment_chars=settings.max_comment_chars_per_appeal,
        max_timeline_entries=settings.max_timeline_entries,
    )
    writer = AppealWriter(runtime.db, appeals, clock, capacity)
    limiter = RateLimit(
        runtime.db,
        clock,
        {
            WriteKind.SUBMIT: settings.submit_rate_per_minute,
            WriteKind.COMMENT: settings.comment_rate_per_minute,
            WriteKind.ACTION: settings.action_rate_per_minute,
            WriteKind.INCIDENT: settings.incident_rate_per_minute,
            WriteKind.UPLOAD: settings.upload_rate_per_minute,
        },
    )
    runtime.consume(handlers(writer))
    runtime.on_startup(flows.ensure_indexes)
    runtime.on_startup(limiter.ensure_indexes)
    public_appeals = PublicAppeals(runtime.db)
    runtime.on_startup(public_appeals.ensure_indexes)
    runtime.background(lambda: gauge_loop(runtime.db, settings.gauge_refresh_seconds))
    routers = [
        appeals_router(flows, limiter),
        action_router(writer, flows, limiter),
        incident_router(flows, limiter),
        media_router(flows, settings, clients.media, runtime.db, limiter),
        public_router(clients, settings),
        notify_router(clients.notify, limiter, smtputf8=settings.mail_smtputf8),
        open311_router(flows, clients, runtime.db, settings, clock),
        catalogue_router(clients.routing),
        stats_router(clients.deadlines),
        template_router(runtime.db, clock),
        polls_router(clients, limiter),
        public_appeals_router(public_appeals, runtime.db),
    ]
    if settings.is_dev:
        routers.append(dev_router(settings))
    app = runtime.create_app(*routers, title="Citizen appeals API", description=DESCRIPTION)
    app.add_middleware(
        BodyLimitMiddleware,
        default_limit=settings.max_json_bytes,
        limits={"/api/v1/media": MEDIA_BODY_LIMIT},  # media_routes caps uploads itself
    )
    install_open311_errors(app)  # after the body limit: its 413 leaves in Open311's format too
    document_problems(app, EXTRA_STATUSES, UPSTREAM_PREFIXES)
    # Outermost again, so the body limit's own 413 carries the security headers too (the
    # middleware never adds a header twice).
    app.add_middleware(SecurityHeadersMiddleware)
    app.state.verifier = TokenVerifier(
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        jwks_url=settings.jwks_url,
        dev_secret=settings.signing_key,
        jwks_timeout_seconds=settings.jwks_timeout_seconds,
        jwks_cache_seconds=settings.jwks_cache_seconds,
    )
    return app
