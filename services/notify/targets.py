"""Who receives a notification where, and when: the audience's channels after their preferences."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from libs.common.clock import Clock
from libs.common.contracts.notify import OrgContacts, WebhookScope
from libs.common.events import Envelope
from libs.common.store import Document
from services.notify import service
from services.notify.delivery import Planned
from services.notify.messages import WEBHOOK_EVENTS, webhook_wants
from services.notify.registry import Registry
from services.notify.schemas import AudienceKind, ChannelName, Delivery, Notification, Recipient


class TargetPlanner:
    def __init__(self, registry: Registry, runs: Callable[[ChannelName], bool], clock: Clock) -> None:
        self._registry = registry
        self._runs = runs
        self._clock = clock

    async def citizen(
        self, event_type: str, note: Notification, recipient: Recipient, channels: Collection[ChannelName]
    ) -> list[Planned]:
        """A person's (an author's, a resident's) feed; e-mail and push as they chose, after their
        quiet hours; of `channels` (messages.CHANNELS) only."""
        push = self._runs(ChannelName.PUSH) and ChannelName.PUSH in channels
        prefs, subscriptions = await self._registry.citizen_reach(recipient.user_id, push=push)
        now = self._clock()
        plan = _Plan(event_type, note)
        plan.add(ChannelName.FEED, note.owner, {"owner": note.owner})
        if prefs.email and recipient.email and ChannelName.EMAIL in channels:
            wait = service.defer_until(ChannelName.EMAIL, note.urgent, prefs.quiet_hours, now)
            plan.add(ChannelName.EMAIL, recipient.user_id, {"email": recipient.email}, wait)
        if subscriptions:
            wait = service.defer_until(ChannelName.PUSH, note.urgent, prefs.quiet_hours, now)
            for sub in subscriptions:
                plan.add(
                    ChannelName.PUSH,
                    f"{recipient.user_id}:{sub['_id']}",
                    {"subscription_id": sub["_id"]},
                    wait,
                )
        return plan.planned

    async def organization(
        self, event_type: str, note: Notification, contacts: OrgContacts, channels: Collection[ChannelName]
    ) -> list[Planned]:
        """The organisation's feed, its operators' (or supervisor's) mailboxes, its operators'
        push; of `channels` (messages.CHANNELS) only."""
        now = self._clock()
        plan = _Plan(event_type, note)
        plan.add(ChannelName.FEED, note.owner, {"owner": note.owner})
        supervisor = note.audience is AudienceKind.SUPERVISOR
        wait = service.defer_until(ChannelName.EMAIL, note.urgent, contacts.quiet_hours, now)
        for address in contacts.supervisor_emails if supervisor else contacts.operator_emails:
            if ChannelName.EMAIL in channels:
                plan.add(ChannelName.EMAIL, service.address_id(note.owner, address), {"email": address}, wait)
        if ChannelName.PUSH not in channels or not self._runs(ChannelName.PUSH):
            return plan.planned
        subscriptions = await self._registry.push_targets_of_org(note.owner.removeprefix("org:"))
        everyone = await self._registry.preferences_of([sub["user_id"] for sub in subscriptions])
        for sub in subscriptions:
            prefs = everyone[sub["user_id"]]
            if prefs.push:
                push_wait = service.defer_until(ChannelName.PUSH, note.urgent, prefs.quiet_hours, now)
                target_id = f"{sub['user_id']}:{sub['_id']}"
                plan.add(ChannelName.PUSH, target_id, {"subscription_id": sub["_id"]}, push_wait)
        return plan.planned

    async def webhooks(
        self, envelope: Envelope, appeal_id: str, org_id: str | None, known: Document
    ) -> list[Planned]:
        """The event itself to the webhooks that may see it: the organisation's, the monitors'."""
        if not self._runs(ChannelName.WEBHOOK) or envelope.type not in WEBHOOK_EVENTS:
            return []
        channel = known.get("channel") or envelope.data.get("channel")
        key = service.event_key(appeal_id, envelope.id)
        planned: list[Planned] = []
        for hook in await self._registry.webhooks_for(org_id, channel == "social"):
            if not webhook_wants(hook, envelope.type, org_id, channel, known.get("author_id")):
                continue
            appeal: dict[str, Any] = {
                "id": appeal_id,
                "number": envelope.data.get("number"),
                "channel": channel,
            }
            if hook["scope"] == WebhookScope.SOCIAL:
                appeal["source_post"] = known.get("source_post")  # where to post the answer back
            delivery = Delivery(
                id=service.delivery_id(key, ChannelName.WEBHOOK, hook["_id"]),
                key=key,
                channel=ChannelName.WEBHOOK,
                target_id=hook["_id"],
                target={"webhook_id": hook["_id"]},
                appeal_id=appeal_id,
                event_type=envelope.type,
                kind=envelope.type,
                content={"body": {"event": envelope.model_dump(mode="json"), "appeal": appeal}},
            )
            planned.append((delivery, None))
        return planned


class _Plan:
    def __init__(self, event_type: str, note: Notification) -> None:
        self._event_type = event_type
        self._note = note
        self.planned: list[Planned] = []

    def add(self, channel: ChannelName, target_id: str, target: dict[str, Any], wait: Any = None) -> None:
        note = self._note
        delivery = Delivery(
            id=service.delivery_id(note.key, channel, target_id),
            key=note.key,
            channel=channel,
            target_id=target_id,
            target=target,
            appeal_id=note.appeal_id,
            event_type=self._event_type,
            kind=str(note.kind),
            urgent=note.urgent,
            content=note.model_dump(mode="json"),
        )
        self.planned.append((delivery, wait))
