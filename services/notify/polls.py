"""Polls for residents and organisations: who opted in for which areas ("polls for my area"), and
finding them for the notifications of `poll.published`, `poll.cancelled` and `poll.closed`, rows of
`messages.TABLE` like the appeals' (to those residents; the closing also to the organisation).

A subscription is one document per resident (`_id` = user id): `area_ids`, an optional e-mail
address (personal data: never logged nor shown to anyone else), a language.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from pymongo import ASCENDING

from libs.common.clock import Clock
from libs.common.store import Database
from services.notify.schemas import NotificationKind as K
from services.notify.schemas import Recipient
from services.notify.service import pick_lang

POLL_SUBSCRIPTIONS = "poll_subscriptions"
POLL_KINDS = frozenset({K.POLL_OPENED, K.POLL_RESULTS, K.POLL_CLOSED, K.POLL_CANCELLED})


class PollNotices:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

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

    # -- who is told (messages.TABLE: residents of a poll's areas) ------------------------

    async def residents(self, area_ids: list[str]) -> AsyncIterator[Recipient]:
        """The residents subscribed to any of these areas (one read through the area index)."""
        async for doc in self.subscriptions.find({"area_ids": {"$in": area_ids}}):
            yield Recipient(user_id=str(doc["_id"]), email=doc.get("email"), lang=doc.get("lang", "ru"))
