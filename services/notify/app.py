from __future__ import annotations

import httpx
from fastapi import FastAPI

from libs.common.clock import Clock, system_clock
from libs.common.logging import get_logger
from libs.common.runtime import ServiceRuntime
from services.notify import grammar, routes, scheduled
from services.notify.caching import OrgCache
from services.notify.channels import Channel, EmailChannel, FeedChannel, MailTransport, SmtpTransport
from services.notify.delivery import DeliveryEngine
from services.notify.flows import NotifyFlows
from services.notify.handlers import handlers
from services.notify.outbound import AddressGuard
from services.notify.poll_routes import poll_router
from services.notify.polls import PollNotices
from services.notify.push import VapidKeys, WebPushChannel
from services.notify.registry import Registry
from services.notify.schemas import ChannelName
from services.notify.settings import NotifySettings
from services.notify.webhooks import WebhookChannel

log = get_logger(__name__)


def create_app(
    settings: NotifySettings,
    clock: Clock = system_clock,
    transport: MailTransport | None = None,
    webhook_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """notify's app: its consumer (the table in messages.py), the channels, the delivery engine
    and its scheduled loop, the internal API. `transport` and `webhook_transport` let tests send
    e-mails and webhooks in-process."""
    runtime = ServiceRuntime(settings)
    guard = AddressGuard(allow_loopback=settings.loopback_targets_allowed)
    registry = Registry(
        runtime.db,
        clock,
        allow_insecure=settings.insecure_urls_allowed,
        allow_loopback=settings.loopback_targets_allowed,
        push_hosts=settings.push_hosts,
        org_cache=OrgCache(settings.org_cache_seconds),
    )
    enabled = settings.enabled_channels
    channels: list[Channel] = [FeedChannel(runtime.db)]
    if "email" in enabled:
        if transport is None:
            smtp = SmtpTransport(settings)
            runtime.on_shutdown(smtp.close)
            transport = smtp
        channels.append(
            EmailChannel(settings.mail_from, transport, settings.app_url, smtputf8=settings.mail_smtputf8)
        )
    vapid = VapidKeys.from_settings(settings) if "push" in enabled else None
    if vapid is not None:
        push = WebPushChannel(runtime.db, vapid, settings, guard, registry.subscription_removed)
        channels.append(push)
        runtime.on_shutdown(push.close)
    elif "push" in enabled:
        log.warning("Web Push is off: set NOTIFY_VAPID_PRIVATE_KEY to turn it on")
    if "webhook" in enabled:
        webhook = WebhookChannel(runtime.db, settings.webhook_timeout, guard, webhook_transport)
        channels.append(webhook)
        runtime.on_shutdown(webhook.close)

    # A send is cut off well before its lease ends, so a lease never outlives a live send.
    lease = max(30.0, 3 * max(settings.smtp_timeout, settings.push_timeout, settings.webhook_timeout))
    engine = DeliveryEngine(
        runtime.db,
        {ChannelName(channel.name): channel for channel in channels},
        clock,
        lease_seconds=lease,
        retry_backoff_seconds=settings.delivery_retry_seconds,
        retry_max_delay_seconds=settings.delivery_retry_max_seconds,
        retry_window_seconds=settings.delivery_retry_window_hours * 3600,
    )
    polls = PollNotices(runtime.db, clock)
    flows = NotifyFlows(
        runtime.db,
        engine,
        registry,
        clock,
        residents=polls.residents,
        region_timezone=settings.region_timezone,
    )
    runtime.consume(handlers(flows))
    runtime.on_startup(flows.ensure_indexes)
    runtime.on_startup(polls.ensure_indexes)
    runtime.on_startup(grammar.load)
    for loop in scheduled.loops(engine, settings.deferred_poll_seconds):
        runtime.background(loop)
    app = runtime.create_app(
        routes.router(registry, engine, vapid, settings.internal_token.get_secret_value()),
        poll_router(polls, settings.internal_token.get_secret_value()),
        title="Notify service",
        description="E-mail, Web Push, signed webhooks and the in-app feed for appeals' citizens and organisations.",
    )
    app.state.flows = flows
    return app
