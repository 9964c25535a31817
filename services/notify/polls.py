"""Polls for residents and organisations: who opted in for which areas ("polls for my area"), and
the notifications of `poll.published` and `poll.cancelled` (to those residents) and `poll.closed`
(to them and to the poll's organisation). New functions beside the appeals' flows; deliveries go through the same
planner and engine (feed always; e-mail and push as each person chose).

A subscription is one document per resident (`_id` = user id): `area_ids`, an optional e-mail
address (personal data: never logged nor shown to anyone else), a language.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING

from libs.common.clock import Clock
from libs.common.events import Envelope
from libs.common.poll_events import PollCancelledV1, PollClosedV1, PollPublishedV1
from libs.common.store import Database
from services.notify.delivery import DeliveryEngine, Planned
from services.notify.registry import Registry
from services.notify.schemas import AudienceKind, Notification, Recipient
from services.notify.schemas import NotificationKind as K
from services.notify.service import build, format_moment, org_owner, pick_lang, user_owner
from services.notify.targets import TargetPlanner

POLL_SUBSCRIPTIONS = "poll_subscriptions"
POLL_KINDS = frozenset({K.POLL_OPENED, K.POLL_RESULTS, K.POLL_CLOSED, K.POLL_CANCELLED})


# -- what each poll notification says: pure builders ------------------------------------------


def _to_resident(
    kind: K,
    recipient: Recipient,
    poll_id: str,
    *,
    event_id: str,
    now: datetime,
    title: str,
    closes: str = "",
    ballots: str = "",
) -> Notification:
    # `appeal_id` holds the poll's id; `number` is empty (the texts name the poll's title). Keyed
    # by poll, kind and person: a redelivered event makes none twice.
    return build(
        kind,
        audience=AudienceKind.CITIZEN,
        owner=user_owner(recipient.user_id),
        lang=recipient.lang,
        appeal_id=poll_id,
        number="",
        event_id=event_id,
        now=now,
        key_parts=(recipient.user_id,),
        title=title,
        closes=closes,
        ballots=ballots,
    )


def poll_opened(recipient: Recipient, poll: PollPublishedV1, *, event_id: str, now: datetime) -> Notification:
    closes = format_moment(poll.closes_at)
    return _to_resident(
        K.POLL_OPENED, recipient, poll.poll_id, event_id=event_id, now=now, title=poll.title, closes=closes
    )


def poll_results(recipient: Recipient, poll: PollClosedV1, *, event_id: str, now: datetime) -> Notification:
    ballots = str(poll.results.ballots)
    return _to_resident(
        K.POLL_RESULTS, recipient, poll.poll_id, event_id=event_id, now=now, title=poll.title, ballots=ballots
    )


def poll_cancelled(
    recipient: Recipient, poll: PollCancelledV1, *, event_id: str, now: datetime
) -> Notification:
    return _to_resident(
        K.POLL_CANCELLED, recipient, poll.poll_id, event_id=event_id, now=now, title=poll.title
    )


def poll_closed(poll: PollClosedV1, lang: str, *, event_id: str, now: datetime) -> Notification:
    """To the poll's organisation (its feed and operators' mailboxes)."""
    return build(
        K.POLL_CLOSED,
        audience=AudienceKind.OPERATORS,
        owner=org_owner(poll.organization_id),
        lang=lang,
        appeal_id=poll.poll_id,
        number="",
        event_id=event_id,
        now=now,
        title=poll.title,
        ballots=str(poll.results.ballots),
    )


class PollNotices:
    def __init__(self, db: Database, engine: DeliveryEngine, registry: Registry, clock: Clock) -> None:
        self._db = db
        self._engine = engine
        self._registry = registry
        self._clock = clock
        self._targets = TargetPlanner(registry, engine.runs, clock)

    @property
    def subscriptions(self) -> Any:
        return self._db[POLL_SUBSCRIPTIONS]

    async def ensure_indexes(self) -> None:
        # Residents of an area are found through this (multikey) index.
        await self.subscriptions.create_index([("area_ids", ASCENDING)])

    # -- subscriptions (internal HTTP) ------------------------------------------------------

    async def subscription(self, user_id: str) -> dict[str, Any]:
        doc = await self.subscriptions.find_one({"_id": user_id}) or {}
        return {"area_ids": doc.get("area_ids", []), "email": doc.get("email"), "lang": doc.get("lang", "ru")}

    async def subscribe(
        self, user_id: str, area_ids: list[str], email: str | None, lang: str
    ) -> dict[str, Any]:
        """Replace the resident's subscription; no areas removes it."""
        if not area_ids:
            await self.subscriptions.delete_one({"_id": user_id})
            return {"area_ids": [], "email": None, "lang": pick_lang(lang)}
        values = {"area_ids": sorted(set(area_ids)), "email": email, "lang": pick_lang(lang)}
        await self.subscriptions.update_one(
            {"_id": user_id}, {"$set": {**values, "updated_at": self._clock()}}, upsert=True
        )
        return values

    # -- events -----------------------------------------------------------------------------

    async def on_published(self, envelope: Envelope, poll: PollPublishedV1) -> None:
        """Residents subscribed to any of the poll's areas: one notification each."""
        await self._tell_residents(envelope, poll, poll_opened)

    async def on_cancelled(self, envelope: Envelope, poll: PollCancelledV1) -> None:
        """The residents told of the poll (`poll.published`) are told it is cancelled."""
        await self._tell_residents(envelope, poll, poll_cancelled)

    async def _tell_residents(self, envelope: Envelope, poll: Any, note_of: Any) -> None:
        planned: list[Planned] = []
        async for recipient in self._residents(poll.area_ids):
            note = note_of(recipient, poll, event_id=envelope.id, now=self._clock())
            planned += await self._targets.citizen(envelope.type, note, recipient)
        await self._engine.dispatch(planned)

    async def on_closed(self, envelope: Envelope, poll: PollClosedV1) -> None:
        """The results to the subscribed residents; the closing to the organisation's contacts."""
        planned: list[Planned] = []
        async for recipient in self._residents(poll.area_ids):
            note = poll_results(recipient, poll, event_id=envelope.id, now=self._clock())
            planned += await self._targets.citizen(envelope.type, note, recipient)
        contacts = await self._registry.org_contacts(poll.organization_id)
        org_note = poll_closed(poll, contacts.lang, event_id=envelope.id, now=self._clock())
        planned += await self._targets.organization(envelope.type, org_note, contacts)
        await self._engine.dispatch(planned)

    async def _residents(self, area_ids: list[str]) -> Any:
        async for doc in self.subscriptions.find({"area_ids": {"$in": area_ids}}):
            yield Recipient(user_id=str(doc["_id"]), email=doc.get("email"), lang=doc.get("lang", "ru"))
