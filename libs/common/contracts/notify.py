"""Notify's internal HTTP contract (`/internal/...` of services/notify/routes.py and
poll_routes.py), shared with the gateway's notification and poll routes (services/intake/gateway/).

The gateway validates people's bodies with these same classes before it forwards them, so a body
notify would refuse is refused at the door with the same 422 (before: the gateway's own copies
had drifted, e.g. it took a 200-character `p256dh` that notify refuses).

- `PUT /internal/preferences/{user}`: `Preferences` (also the answer of GET).
- `PUT /internal/organizations/{org}/contacts`: `OrgContacts` (also the answer of GET).
- `POST /internal/push-subscriptions/{user}`: `PushSubscriptionIn` (the browser's JSON).
- `POST /internal/webhooks`: `WebhookCreate`, built by the gateway from a person's
  `WebhookRequest` and their token.
- `PUT /internal/poll-subscriptions/{user}`: `PollSubscription` (also the answer of GET).
"""

from __future__ import annotations

from datetime import time
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator, model_validator

from libs.common.contracts.polls import MAX_AREAS, AreaId


class WebhookScope(StrEnum):
    ORGANIZATION = "organization"  # events of the appeals assigned to one organisation
    SOCIAL = "social"  # events of appeals found in social networks (the monitoring connector)


class QuietHours(BaseModel):
    """Local times between which non-urgent e-mail and push wait (start > end: over midnight)."""

    start: time
    end: time
    timezone: str = Field(default="Europe/Moscow", max_length=64)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("quiet hours need different start and end times")
        return self


class Preferences(BaseModel):
    """A person's choices per channel. The in-app feed always keeps everything."""

    model_config = ConfigDict(extra="forbid")

    email: bool = True
    push: bool = True
    quiet_hours: QuietHours | None = None


class OrgContacts(BaseModel):
    """Where an organisation wants its notifications: its operators' and its supervisor's mailboxes."""

    model_config = ConfigDict(extra="forbid")

    operator_emails: list[EmailStr] = Field(default_factory=list, max_length=10)
    supervisor_emails: list[EmailStr] = Field(default_factory=list, max_length=10)
    lang: str = Field(default="ru", pattern="^(ru|en)$")
    quiet_hours: QuietHours | None = None


class PushKeys(BaseModel):
    """The subscription's keys, base64url: the P-256 public key (65 bytes: 87 characters) and the
    16-byte auth secret (22 characters), with room for padding."""

    p256dh: str = Field(min_length=80, max_length=100)
    auth: str = Field(min_length=16, max_length=32)


class PushSubscriptionIn(BaseModel):
    """The browser's `PushSubscription.toJSON()`."""

    model_config = ConfigDict(populate_by_name=True)

    endpoint: str = Field(min_length=10, max_length=2000)
    keys: PushKeys
    expiration_time: int | None = Field(default=None, alias="expirationTime")


class WebhookRequest(BaseModel):
    """What a person gives for a webhook: the gateway's public body is this plus an optional
    `scope` (services/intake/gateway/notify_routes.py `WebhookIn`)."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=8, max_length=2000, examples=["https://crm.example.org/hooks/appeals"])
    events: list[str] | None = Field(  # None: every event the scope may see
        default=None, examples=[["appeal.routed", "deadline.overdue"]]
    )
    secret: str | None = Field(default=None, min_length=16, max_length=200)
    org_id: str | None = Field(default=None, max_length=128)


class WebhookCreate(WebhookRequest):
    """`POST /internal/webhooks`: the request with its scope decided and its creator named."""

    scope: WebhookScope = WebhookScope.ORGANIZATION
    created_by: str = Field(min_length=1, max_length=256)
    # A monitoring connector's social webhook sees only the incidents it reported; None: all
    # social appeals (an admin's). Set by the gateway from the caller's token, never by them.
    monitor_id: str | None = Field(default=None, max_length=256)

    @model_validator(mode="after")
    def _scope_needs_org(self) -> WebhookCreate:
        if (self.scope is WebhookScope.ORGANIZATION) != bool(self.org_id):
            raise ValueError("an organization webhook needs org_id; a social webhook has none")
        return self


class PollSubscription(BaseModel):
    """ "Polls for my area": the areas (municipality ids) whose new polls and results the resident
    wants, and optionally an e-mail address for them (else the in-app feed and push only)."""

    model_config = ConfigDict(extra="forbid")

    area_ids: list[AreaId] = Field(default_factory=list, max_length=MAX_AREAS)
    email: EmailStr | None = None
    lang: str = Field(default="ru", pattern="^(ru|en)$")
