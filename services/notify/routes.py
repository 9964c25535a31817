"""Internal HTTP for the gateway, guarded by the internal service token: parse, call, return.

The gateway authenticates people and decides what they may touch; it passes the user, their
organisation and the scope explicitly. Nothing here is public.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from libs.common.contracts.notify import (
    OrgContacts,
    Preferences,
    PushSubscriptionIn,
    WebhookCreate,
    WebhookScope,
)
from libs.common.http import Offset, Problem, internal_auth
from services.notify.delivery import DeliveryEngine
from services.notify.push import VapidKeys
from services.notify.registry import LimitReached, Registry
from services.notify.schemas import (
    DeadLetter,
    DeadLetterPage,
    DeliveryStatus,
    FeedPage,
    PushSubscriptionView,
    VapidKey,
    WebhookCreated,
    WebhookView,
)
from services.notify.service import InvalidEndpoint

UserId = Annotated[str, Path(min_length=1, max_length=128)]
OrgId = Annotated[str | None, Query(max_length=128)]
ItemId = Annotated[str, Path(min_length=1, max_length=200)]
Limit = Annotated[int, Query(ge=1, le=100)]


def router(
    registry: Registry, engine: DeliveryEngine, vapid: VapidKeys | None, internal_token: str
) -> APIRouter:
    """Notify's /internal API (feed, preferences, push subscriptions, webhooks, contacts, dead
    letters) behind the internal token. Its routes answer Problem 404 (no such item of this user,
    Web Push off), 422 (a refused push endpoint or webhook) and 409 (the webhook limit reached)."""
    api = APIRouter(prefix="/internal", tags=["internal"], dependencies=[internal_auth(internal_token)])

    # -- the in-app feed ----------------------------------------------------------------------

    @api.get("/feed/{user_id}", response_model=FeedPage)
    async def feed(
        user_id: UserId,
        org_id: OrgId = None,
        unread_only: bool = False,
        limit: Limit = 20,
        offset: Offset = 0,
    ) -> FeedPage:
        return await registry.feed_page(user_id, org_id, unread_only=unread_only, limit=limit, offset=offset)

    @api.post("/feed/{user_id}/read-all")
    async def mark_all_read(user_id: UserId, org_id: OrgId = None) -> dict[str, int]:
        return {"marked": await registry.mark_all_read(user_id, org_id)}

    @api.post("/feed/{user_id}/{notification_id}/read", status_code=204)
    async def mark_read(user_id: UserId, notification_id: ItemId, org_id: OrgId = None) -> Response:
        """Mark a feed item read; 404 when the user has no such notification."""
        if not await registry.mark_read(user_id, org_id, notification_id):
            raise Problem(404, "this user has no such notification")
        return Response(status_code=204)

    # -- preferences and organisations' contacts ----------------------------------------------

    @api.get("/preferences/{user_id}", response_model=Preferences)
    async def preferences(user_id: UserId) -> Preferences:
        return await registry.preferences(user_id)

    @api.put("/preferences/{user_id}", response_model=Preferences)
    async def set_preferences(user_id: UserId, body: Preferences) -> Preferences:
        return await registry.set_preferences(user_id, body)

    @api.get("/organizations/{org_id}/contacts", response_model=OrgContacts)
    async def contacts(org_id: ItemId) -> OrgContacts:
        return await registry.org_contacts(org_id)

    @api.put("/organizations/{org_id}/contacts", response_model=OrgContacts)
    async def set_contacts(
        org_id: ItemId, body: OrgContacts, updated_by: Annotated[str, Query(max_length=128)] = ""
    ) -> OrgContacts:
        return await registry.set_org_contacts(org_id, body, updated_by)

    # -- Web Push -----------------------------------------------------------------------------

    def push_on() -> VapidKeys:
        """The VAPID keys; raises Problem 404 when Web Push is not configured."""
        if vapid is None:
            raise Problem(404, "Web Push is not enabled on this deployment")
        return vapid

    @api.get("/push/vapid-public-key", response_model=VapidKey)
    async def vapid_public_key() -> VapidKey:
        return VapidKey(public_key=push_on().public_key)

    @api.post("/push-subscriptions/{user_id}", response_model=PushSubscriptionView, status_code=201)
    async def subscribe(
        user_id: UserId, body: PushSubscriptionIn, response: Response, org_id: OrgId = None
    ) -> PushSubscriptionView:
        """Store a browser's push subscription (201; 200 if already stored). 404 when Web Push is
        off, 422 for a refused endpoint."""
        push_on()
        try:
            view, created = await registry.subscribe(user_id, org_id, body)
        except InvalidEndpoint as exc:
            raise Problem(422, f"push subscription refused: {exc}") from None
        if not created:
            response.status_code = 200
        return view

    @api.get("/push-subscriptions/{user_id}", response_model=list[PushSubscriptionView])
    async def subscriptions(user_id: UserId) -> list[PushSubscriptionView]:
        return await registry.subscriptions(user_id)

    @api.delete("/push-subscriptions/{user_id}/{subscription_id}", status_code=204)
    async def unsubscribe(user_id: UserId, subscription_id: ItemId) -> Response:
        """404 when the user has no such push subscription."""
        if not await registry.unsubscribe(user_id, subscription_id):
            raise Problem(404, "this user has no such push subscription")
        return Response(status_code=204)

    # -- webhooks -----------------------------------------------------------------------------

    def owner_filter(
        org_id: str | None, scope: WebhookScope | None, created_by: str | None
    ) -> dict[str, str]:
        given = {"org_id": org_id, "scope": scope, "created_by": created_by}
        return {name: str(value) for name, value in given.items() if value}

    @api.post("/webhooks", response_model=WebhookCreated, status_code=201)
    async def add_webhook(body: WebhookCreate) -> WebhookCreated:
        """422 for a refused URL or unknown events; 409 when the owner has the maximum number of
        webhooks."""
        try:
            return await registry.add_webhook(body)
        except InvalidEndpoint as exc:
            raise Problem(422, f"webhook refused: {exc}") from None
        except LimitReached as exc:
            raise Problem(409, str(exc)) from None

    @api.get("/webhooks", response_model=list[WebhookView])
    async def webhooks(
        org_id: OrgId = None, scope: WebhookScope | None = None, created_by: OrgId = None
    ) -> list[WebhookView]:
        return await registry.webhooks(owner_filter(org_id, scope, created_by))

    @api.delete("/webhooks/{webhook_id}", status_code=204)
    async def remove_webhook(
        webhook_id: ItemId, org_id: OrgId = None, scope: WebhookScope | None = None, created_by: OrgId = None
    ) -> Response:
        """404 when no webhook of this owner has the id."""
        if not await registry.remove_webhook(webhook_id, owner_filter(org_id, scope, created_by)):
            raise Problem(404, "no such webhook")
        return Response(status_code=204)

    # -- failed deliveries, for admins --------------------------------------------------------

    @api.get("/dead-letters", response_model=DeadLetterPage)
    async def dead_letters(limit: Limit = 50, offset: Offset = 0) -> DeadLetterPage:
        docs, total = await engine.failed(limit, offset)
        items = [
            DeadLetter.model_validate(
                {
                    **doc,
                    "id": doc["_id"],
                    "target": f"{doc['channel']}:{doc.get('target_id', '')}",
                    "permanent": doc.get("status") == DeliveryStatus.UNDELIVERABLE,
                }
            )
            for doc in docs
        ]
        return DeadLetterPage(items=items, total=total)

    @api.post("/dead-letters/{delivery_id}/retry", status_code=202)
    async def retry(delivery_id: ItemId) -> dict[str, str]:
        """Queue a failed delivery again (202); 404 when there is no dead letter with this id."""
        if not await engine.requeue(delivery_id):
            raise Problem(404, "no failed delivery with this id")
        return {"status": "requeued"}

    return api
