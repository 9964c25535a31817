"""What notify keeps about its recipients: the feed, preferences, organisations' contacts,
push subscriptions and webhooks. Read and written through the internal HTTP API.

A person's preferences document also says whether they may have push subscriptions
(`PUSH_FLAG`, set before their first subscription is stored): an event's messages read the
subscriptions of those who may, so most citizens, who never subscribe, cost one read, not two.

What the events read of an organisation (its contacts, its operators' push subscriptions, its
webhooks and the social ones) is kept in memory for `OrgCache.ttl` seconds (caching.py); every
write here drops what it changed at once, so the next event sees it. The API's own reads always
go to the store."""

from __future__ import annotations

import base64
import binascii
import secrets
from typing import Any

from pymongo import ASCENDING, DESCENDING, UpdateOne

from libs.common.clock import Clock
from libs.common.contracts.notify import (
    OrgContacts,
    Preferences,
    PushSubscriptionIn,
    WebhookCreate,
    WebhookScope,
)
from libs.common.store import Database, Document
from services.notify.caching import OrgCache
from services.notify.channels import FEED, PUSH_SUBSCRIPTIONS, WEBHOOKS
from services.notify.messages import WEBHOOK_EVENTS
from services.notify.schemas import FeedItem, FeedPage, PushSubscriptionView, WebhookCreated, WebhookView
from services.notify.service import (
    InvalidEndpoint,
    check_endpoint,
    org_owner,
    subscription_id,
    user_owner,
)

PREFERENCES = "preferences"
ORG_CONTACTS = "org_contacts"
MIGRATIONS = "migrations"
PUSH_FLAG = "push_subscribed"  # on a preferences document: the person may have push subscriptions
PUSH_FLAG_MIGRATION = "push_subscribed_flag"  # the flags of subscriptions older than the flag set
MAX_SUBSCRIPTIONS_PER_USER = 10
MAX_WEBHOOKS_PER_OWNER = 10


class LimitReached(Exception):
    pass


class Registry:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        allow_insecure: bool,
        allow_loopback: bool = False,
        push_hosts: tuple[str, ...] = (),
        org_cache: OrgCache | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._allow_insecure = allow_insecure
        self._allow_loopback = allow_loopback
        self._push_hosts = push_hosts
        self.orgs = OrgCache(0) if org_cache is None else org_cache  # what events read of organisations

    async def ensure_indexes(self) -> None:
        feed = self._db[FEED]
        await feed.create_index([("owner", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)])
        await feed.create_index([("owner", ASCENDING), ("read_by", ASCENDING)])
        await self._db[PUSH_SUBSCRIPTIONS].create_index("user_id")
        await self._db[PUSH_SUBSCRIPTIONS].create_index("org_id", sparse=True)
        await self._db[WEBHOOKS].create_index([("scope", ASCENDING), ("org_id", ASCENDING)])
        await self._flag_earlier_subscribers()

    async def _flag_earlier_subscribers(self) -> None:
        """Once per store: `PUSH_FLAG` for everyone with a subscription stored by a version that did
        not set it. Safe to repeat and to run beside `subscribe` (which sets the flag first)."""
        if await self._db[MIGRATIONS].find_one({"_id": PUSH_FLAG_MIGRATION}):
            return
        users = await self._db[PUSH_SUBSCRIPTIONS].distinct("user_id")
        if users:
            flag = {"$set": {PUSH_FLAG: True}}
            await self._db[PREFERENCES].bulk_write([UpdateOne({"_id": u}, flag, upsert=True) for u in users])
        await self._db[MIGRATIONS].update_one(
            {"_id": PUSH_FLAG_MIGRATION}, {"$set": {"at": self._clock(), "users": len(users)}}, upsert=True
        )

    # -- the in-app feed: a person's own items, and an operator's organisation's ---------------

    @staticmethod
    def _owners(user_id: str, org_id: str | None) -> dict[str, Any]:
        owners = [user_owner(user_id)] + ([org_owner(org_id)] if org_id else [])
        return {"owner": {"$in": owners}}

    async def feed_page(
        self, user_id: str, org_id: str | None, *, unread_only: bool, limit: int, offset: int
    ) -> FeedPage:
        feed = self._db[FEED]
        mine = self._owners(user_id, org_id)
        unread = {**mine, "read_by": {"$ne": user_id}}
        cursor = feed.find(unread if unread_only else mine)
        cursor = cursor.sort([("created_at", DESCENDING), ("_id", DESCENDING)]).skip(offset).limit(limit)
        items = [
            FeedItem.model_validate(
                {
                    **doc,
                    "id": doc["_id"],
                    "read": user_id in (doc.get("read_by") or []),
                    "for_organization": str(doc.get("owner", "")).startswith("org:"),
                }
            )
            for doc in await cursor.to_list()
        ]
        return FeedPage(
            items=items,
            total=await feed.count_documents(unread if unread_only else mine),
            unread=await feed.count_documents(unread),
        )

    async def mark_read(self, user_id: str, org_id: str | None, notification_id: str) -> bool:
        """False if the user sees no such notification (someone else's counts as none)."""
        result = await self._db[FEED].update_one(
            {"_id": notification_id, **self._owners(user_id, org_id)}, {"$addToSet": {"read_by": user_id}}
        )
        return result.matched_count == 1

    async def mark_all_read(self, user_id: str, org_id: str | None) -> int:
        result = await self._db[FEED].update_many(
            {**self._owners(user_id, org_id), "read_by": {"$ne": user_id}},
            {"$addToSet": {"read_by": user_id}},
        )
        return int(result.modified_count)

    # -- preferences and organisations' contacts ----------------------------------------------

    async def preferences(self, user_id: str) -> Preferences:
        return _preferences(await self._db[PREFERENCES].find_one({"_id": user_id}))

    async def citizen_reach(self, user_id: str, *, push: bool) -> tuple[Preferences, list[Document]]:
        """(the person's preferences, their push subscriptions' `_id` and `user_id`): one read,
        and a second only when `push` is wanted, they allow it and `PUSH_FLAG` says they may have
        subscriptions (none are read otherwise). Raises what the store raises."""
        doc = await self._db[PREFERENCES].find_one({"_id": user_id}) or {}
        prefs = _preferences(doc)
        wanted = push and prefs.push and doc.get(PUSH_FLAG, False)
        return prefs, await self.push_targets_of_user(user_id) if wanted else []

    async def preferences_of(self, user_ids: list[str]) -> dict[str, Preferences]:
        """Several people's preferences in one read (the defaults for those who set none)."""
        unique = list(dict.fromkeys(user_ids))
        if not unique:
            return {}
        docs = await self._db[PREFERENCES].find({"_id": {"$in": unique}}).to_list()
        stored = {doc["_id"]: _preferences(doc) for doc in docs}
        return {user_id: stored.get(user_id) or Preferences() for user_id in unique}

    async def set_preferences(self, user_id: str, preferences: Preferences) -> Preferences:
        await self._db[PREFERENCES].update_one(
            {"_id": user_id},
            {"$set": {"preferences": preferences.model_dump(mode="json"), "updated_at": self._clock()}},
            upsert=True,
        )
        return preferences

    async def org_contacts(self, org_id: str) -> OrgContacts:
        """The stored contacts (the API's read: never from memory)."""
        doc = await self._db[ORG_CONTACTS].find_one({"_id": org_id})
        return OrgContacts.model_validate(doc.get("contacts", {})) if doc else OrgContacts()

    async def contacts_to_notify(self, org_id: str) -> OrgContacts:
        """The contacts an event's messages go to: from memory (at most `orgs.ttl` seconds old,
        this process's own writes seen at once). Callers must not change the model."""
        return await self.orgs.get(("contacts", org_id), lambda: self.org_contacts(org_id))

    async def set_org_contacts(self, org_id: str, contacts: OrgContacts, updated_by: str) -> OrgContacts:
        await self._db[ORG_CONTACTS].update_one(
            {"_id": org_id},
            {
                "$set": {
                    "contacts": contacts.model_dump(mode="json"),
                    "updated_at": self._clock(),
                    "updated_by": updated_by,
                }
            },
            upsert=True,
        )
        self.orgs.forget(("contacts", org_id))
        return contacts

    # -- push subscriptions -------------------------------------------------------------------

    async def subscribe(
        self, user_id: str, org_id: str | None, body: PushSubscriptionIn
    ) -> tuple[PushSubscriptionView, bool]:
        """Store a browser's subscription (the last account to register a browser owns it)."""
        endpoint = check_endpoint(
            body.endpoint,
            allow_insecure=self._allow_insecure,
            allow_loopback=self._allow_loopback,
            hosts=self._push_hosts,
        )
        _check_push_keys(body.keys.p256dh, body.keys.auth)
        sub_id = subscription_id(endpoint)
        # Before the subscription: an event never misses one it could send to (citizen_reach).
        await self._db[PREFERENCES].update_one({"_id": user_id}, {"$set": {PUSH_FLAG: True}}, upsert=True)
        collection = self._db[PUSH_SUBSCRIPTIONS]
        before = await collection.find_one({"_id": sub_id}, {"org_id": 1})
        now = self._clock()
        await collection.update_one(
            {"_id": sub_id},
            {
                "$set": {
                    "user_id": user_id,
                    "org_id": org_id,
                    "endpoint": endpoint,
                    "keys": body.keys.model_dump(),
                },
                "$setOnInsert": {"created_at": now},
            },
            upsert=True,
        )
        # Keep the newest few per person: browsers come and go, their subscriptions rarely say so.
        stale = await collection.find({"user_id": user_id}).sort("created_at", DESCENDING).to_list()
        dropped = stale[MAX_SUBSCRIPTIONS_PER_USER:]
        for doc in dropped:
            await collection.delete_one({"_id": doc["_id"]})
        # An operator's browser joins an organisation (or leaves one: another account has it now).
        self._forget_push_of(org_id, (before or {}).get("org_id"), *(d.get("org_id") for d in dropped))
        doc = await collection.find_one({"_id": sub_id}) or {}
        return _subscription_view(doc), before is None

    async def subscriptions(self, user_id: str) -> list[PushSubscriptionView]:
        docs = await self._db[PUSH_SUBSCRIPTIONS].find({"user_id": user_id}).sort("created_at", 1).to_list()
        return [_subscription_view(doc) for doc in docs]

    async def unsubscribe(self, user_id: str, sub_id: str) -> bool:
        removed = await self._db[PUSH_SUBSCRIPTIONS].find_one_and_delete(
            {"_id": sub_id, "user_id": user_id}, projection={"org_id": 1}
        )
        if removed is None:
            return False
        self.subscription_removed(removed)
        return True

    def subscription_removed(self, subscription: Document) -> None:
        """A push subscription was removed by this process (its owner, or its push service said
        it is gone): its organisation's operators' subscriptions are read again."""
        self._forget_push_of(subscription.get("org_id"))

    def _forget_push_of(self, *org_ids: str | None) -> None:
        orgs = {org_id for org_id in org_ids if org_id}
        if orgs:  # a citizen's own browser (no organisation) changes nothing kept in memory
            self.orgs.forget(*(("push", org_id) for org_id in orgs))

    async def push_targets_of_user(self, user_id: str) -> list[Document]:
        return await self._db[PUSH_SUBSCRIPTIONS].find({"user_id": user_id}, {"user_id": 1}).to_list()

    async def push_targets_of_org(self, org_id: str) -> tuple[Document, ...]:
        """Subscriptions of the organisation's operators (registered with their org_id): `_id` and
        `user_id`, from memory (at most `orgs.ttl` seconds old, this process's writes seen at once)."""

        async def load() -> tuple[Document, ...]:
            found = self._db[PUSH_SUBSCRIPTIONS].find({"org_id": org_id}, {"user_id": 1})
            return tuple(await found.to_list())

        return await self.orgs.get(("push", org_id), load)

    # -- webhooks -----------------------------------------------------------------------------

    async def add_webhook(self, body: WebhookCreate) -> WebhookCreated:
        """A webhook of an organisation or the social scope, with its secret (shown once). Raises
        InvalidEndpoint for a refused URL or events webhooks do not offer, LimitReached above
        `MAX_WEBHOOKS_PER_OWNER` per owner."""
        url = check_endpoint(
            body.url, allow_insecure=self._allow_insecure, allow_loopback=self._allow_loopback
        )
        events = body.events or list(WEBHOOK_EVENTS)
        unknown = sorted(set(events) - set(WEBHOOK_EVENTS))
        if unknown:
            raise InvalidEndpoint(f"events not offered by webhook: {', '.join(unknown)}")
        owner = {"scope": body.scope, "org_id": body.org_id}
        if await self._db[WEBHOOKS].count_documents(owner) >= MAX_WEBHOOKS_PER_OWNER:
            raise LimitReached(f"at most {MAX_WEBHOOKS_PER_OWNER} webhooks per organisation or scope")
        doc: Document = {
            "_id": secrets.token_hex(12),
            **owner,
            "url": url,
            "events": events,
            "secret": body.secret or secrets.token_urlsafe(32),
            "created_by": body.created_by,
            "monitor_id": body.monitor_id if body.scope is WebhookScope.SOCIAL else None,
            "created_at": self._clock(),
        }
        await self._db[WEBHOOKS].insert_one(doc)
        self.orgs.forget(_hooks_key(body.scope, body.org_id))
        return WebhookCreated.model_validate({**doc, "id": doc["_id"]})

    async def webhooks(self, filters: dict[str, str]) -> list[WebhookView]:
        docs = await self._db[WEBHOOKS].find(filters).sort("created_at", 1).to_list()
        return [WebhookView.model_validate({**doc, "id": doc["_id"]}) for doc in docs]

    async def remove_webhook(self, webhook_id: str, filters: dict[str, str]) -> bool:
        removed = await self._db[WEBHOOKS].find_one_and_delete(
            {"_id": webhook_id, **filters}, projection={"scope": 1, "org_id": 1}
        )
        if removed is None:
            return False
        self.orgs.forget(_hooks_key(removed.get("scope"), removed.get("org_id")))
        return True

    async def webhooks_for(self, org_id: str | None, social: bool) -> list[Document]:
        """The webhooks that may see an appeal: its organisation's, then the monitors' for social
        ones, each oldest first; from memory (at most `orgs.ttl` seconds old, this process's own
        writes seen at once). What deciding and addressing needs only: no secret, no URL (the
        channel reads the webhook itself when it sends)."""
        hooks: list[Document] = []
        if org_id:
            hooks += await self._hooks({"scope": WebhookScope.ORGANIZATION, "org_id": org_id})
        if social:
            hooks += await self._hooks({"scope": WebhookScope.SOCIAL})
        return hooks

    async def _hooks(self, owner: dict[str, str]) -> tuple[Document, ...]:
        async def load() -> tuple[Document, ...]:
            found = self._db[WEBHOOKS].find(owner, _HOOK_FIELDS).sort("created_at", 1)
            return tuple(await found.to_list())

        return await self.orgs.get(_hooks_key(owner["scope"], owner.get("org_id")), load)


# What planning a webhook delivery reads of a webhook (messages.webhook_wants, targets.webhooks).
_HOOK_FIELDS = {"scope": 1, "org_id": 1, "events": 1, "monitor_id": 1, "created_by": 1}


def _preferences(doc: Document | None) -> Preferences:
    """The preferences a person's document holds (the defaults when there is none, or none set)."""
    return Preferences.model_validate((doc or {}).get("preferences", {}))


def _hooks_key(scope: Any, org_id: str | None) -> tuple[str, ...]:
    """The memory's key of one owner's webhooks: an organisation's, or the social scope's."""
    if str(scope) == WebhookScope.SOCIAL:
        return ("hooks", WebhookScope.SOCIAL)
    return ("hooks", WebhookScope.ORGANIZATION, str(org_id))


def _check_push_keys(p256dh: str, auth: str) -> None:
    try:
        point = base64.urlsafe_b64decode(p256dh + "=" * (-len(p256dh) % 4))
        secret = base64.urlsafe_b64decode(auth + "=" * (-len(auth) % 4))
    except (binascii.Error, ValueError):
        raise InvalidEndpoint("push keys must be base64url") from None
    if len(point) != 65 or point[0] != 4 or len(secret) != 16:
        raise InvalidEndpoint("p256dh must be an uncompressed P-256 point and auth 16 bytes")


def _subscription_view(doc: Document) -> PushSubscriptionView:
    endpoint = str(doc.get("endpoint", ""))
    origin = "/".join(endpoint.split("/")[:3])
    return PushSubscriptionView(id=doc["_id"], endpoint_origin=origin, created_at=doc["created_at"])
