from __future__ import annotations

from typing import ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, model_validator

from libs.common.settings import ServiceSettings

KNOWN_CHANNELS = ("feed", "email", "push", "webhook")


class NotifySettings(ServiceSettings):
    service_name: ClassVar[str] = "notify"

    http_port: int = 8003
    # Which delivery channels run, comma-separated (chosen at start, no code change).
    channels: str = ",".join(KNOWN_CHANNELS)

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_use_tls: bool = False
    mail_from: str = "Обращения граждан <no-reply@appeals.local>"
    smtp_timeout: float = 10
    # The relay supports SMTPUTF8 (RFC 6531): addresses with a non-ASCII local part are delivered.
    # Set it for every service at once with APPEALS_MAIL_SMTPUTF8: intake's door reads the same.
    mail_smtputf8: bool = False

    # Web Push (VAPID). The private key: PEM, or base64url of the raw 32-byte key or of its DER.
    # Unset in dev mode: an ephemeral pair is made at start (subscriptions die with the process).
    vapid_private_key: SecretStr | None = None
    vapid_subject: str = "mailto:no-reply@appeals.local"
    push_ttl_seconds: int = 24 * 3600
    push_timeout: float = 10
    # Hosts (or their parent domains) a push endpoint may point at; empty: any https host.
    push_endpoint_hosts: str = (
        "fcm.googleapis.com,push.services.mozilla.com,notify.windows.com,push.apple.com"
    )

    webhook_timeout: float = 10
    # Dev and tests only (refused outside dev): webhooks and push endpoints on loopback, e.g. the
    # local webhook sink. Private, link-local and every other internal range stay refused.
    allow_loopback_targets: bool = False
    # Where the citizen can open an appeal, for links in e-mails and push (e.g. https://appeals.example.org).
    app_url: str | None = None
    # How often deferred (quiet hours, backoff) and re-queued deliveries are looked for.
    deferred_poll_seconds: float = 5.0
    # A channel's transient failure (relay down, 5xx): the delivery is retried after this delay,
    # doubling up to the maximum, for this many hours after its first failure; then it is parked
    # for an admin (/internal/dead-letters). The event itself is not retried for it.
    delivery_retry_seconds: float = 30.0
    delivery_retry_max_seconds: float = 1800.0
    delivery_retry_window_hours: float = 24.0
    # What events read of an organisation (its contacts, its operators' push subscriptions, its
    # webhooks) is kept in memory this long: a change made through another replica reaches this
    # one at most this many seconds later (this replica's own changes at once). 0: always read.
    org_cache_seconds: float = Field(default=30.0, ge=0)
    # The region's time zone: times in messages that concern no appeal (a poll's closing time),
    # as the website shows them. An appeal's messages use its organisation's zone.
    region_timezone: str = Field(default="Europe/Moscow", max_length=64)

    @model_validator(mode="after")
    def _check(self) -> NotifySettings:
        try:
            ZoneInfo(self.region_timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"NOTIFY_REGION_TIMEZONE: unknown time zone {self.region_timezone!r}") from None
        if self.smtp_starttls and self.smtp_use_tls:
            raise ValueError("choose smtp_starttls (upgrade) or smtp_use_tls (implicit TLS), not both")
        unknown = self.enabled_channels - set(KNOWN_CHANNELS)
        if unknown:
            raise ValueError(f"unknown channels {sorted(unknown)}; known: {', '.join(KNOWN_CHANNELS)}")
        if self.allow_loopback_targets and not self.is_dev:
            raise ValueError("NOTIFY_ALLOW_LOOPBACK_TARGETS is for dev mode only")
        if "feed" not in self.enabled_channels:
            raise ValueError("the in-app feed cannot be switched off: it is the record citizens see")
        return self

    @property
    def enabled_channels(self) -> frozenset[str]:
        return frozenset(part.strip() for part in self.channels.split(",") if part.strip())

    @property
    def push_hosts(self) -> tuple[str, ...]:
        return tuple(host.strip().lower() for host in self.push_endpoint_hosts.split(",") if host.strip())

    @property
    def insecure_urls_allowed(self) -> bool:
        """Plain http endpoints (local sinks, tests): dev mode only."""
        return self.is_dev

    @property
    def loopback_targets_allowed(self) -> bool:
        """Loopback endpoints: dev mode with NOTIFY_ALLOW_LOOPBACK_TARGETS only."""
        return self.is_dev and self.allow_loopback_targets
