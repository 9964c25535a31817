from __future__ import annotations

from fastapi import FastAPI

from libs.common.clock import Clock, system_clock
from libs.common.runtime import ServiceRuntime
from services.notify import routes, scheduled
from services.notify.channels import Channel, EmailChannel, FeedChannel, MailTransport, SmtpTransport
from services.notify.flows import NotifyFlows
from services.notify.handlers import handlers
from services.notify.settings import NotifySettings


def create_app(
    settings: NotifySettings, clock: Clock = system_clock, transport: MailTransport | None = None
) -> FastAPI:
    runtime = ServiceRuntime(settings)
    channels: list[Channel] = [
        FeedChannel(runtime.db),
        EmailChannel(settings.mail_from, transport or SmtpTransport(settings)),
    ]
    # A send is cut off well before its lease ends, so a lease never outlives a live send.
    flows = NotifyFlows(runtime.db, channels, clock, lease_seconds=max(30.0, 3 * settings.smtp_timeout))
    runtime.consume(handlers(flows))
    runtime.on_startup(flows.ensure_indexes)
    for loop in scheduled.loops(flows):
        runtime.background(loop)
    return runtime.create_app(
        routes.router(flows, settings.internal_token.get_secret_value()),
        title="Notify service",
        description="E-mail and in-app notifications to the authors of appeals.",
    )
