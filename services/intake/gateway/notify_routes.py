"""The gateway's notification API: the in-app feed, preferences, Web Push subscriptions, webhooks,
organisations' contacts and failed deliveries. Notify owns the data; the gateway authenticates,
decides who may touch what, and passes the caller's identity and scope to notify's internal API."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from libs.common.auth import Principal, Role
from libs.common.contacts import InvalidEmail, check_email
from libs.common.contracts.notify import (
    OrgContacts,
    Preferences,
    PushSubscriptionIn,
    WebhookCreate,
    WebhookRequest,
    WebhookScope,
)
from libs.common.http import Id, Offset, Problem
from services.intake.gateway.clients import NotifyClient
from services.intake.gateway.internal import contract
from services.intake.ratelimit import RateLimit, WriteKind
from services.intake.security import CurrentPrincipal, require_role

Limit = Annotated[int, Query(ge=1, le=100)]


class WebhookIn(WebhookRequest):
    """`org_id` and `scope` are for admins; an operator's webhook is its organisation's, a monitor's social."""

    scope: WebhookScope | None = None


def _org_of(principal: Principal) -> str | None:
    return principal.org_id if principal.role is Role.OPERATOR else None


def _webhook_owner(principal: Principal) -> dict[str, str]:
    """Which webhooks a caller may list and remove: their organisation's, their own, or all."""
    if principal.role is Role.OPERATOR:
        return {"scope": WebhookScope.ORGANIZATION, "org_id": principal.org_id or ""}
    if principal.role is Role.MONITOR:
        return {"scope": WebhookScope.SOCIAL, "created_by": principal.sub}
    return {}


def notify_router(
    notify: NotifyClient, limiter: RateLimit | None = None, *, smtputf8: bool = False
) -> APIRouter:
    """Writes (preferences, push subscriptions, webhooks, contacts) count as the caller's actions.

    Its routes answer Problem 403 when an operator or connector reaches beyond their own
    organisation or scope, and 422 for an undeliverable contact address; notify's own problems are
    passed on."""

    async def count_write(principal: CurrentPrincipal) -> None:
        if limiter is not None:
            await limiter.check(principal.sub, WriteKind.ACTION)

    counted = [Depends(count_write)]
    router = APIRouter(prefix="/api/v1", tags=["notifications"])

    # -- the in-app feed ----------------------------------------------------------------------

    @router.get("/me/notifications")
    async def my_notifications(
        principal: CurrentPrincipal, unread_only: bool = False, limit: Limit = 20, offset: Offset = 0
    ) -> dict[str, Any]:
        """The caller's feed, newest first; an operator's includes their organisation's."""
        params: dict[str, Any] = {"limit": limit, "offset": offset, "unread_only": unread_only}
        if org_id := _org_of(principal):
            params["org_id"] = org_id
        result: dict[str, Any] = await notify.call("GET", "feed/{}", principal.sub, params=params)
        return result

    @router.post("/me/notifications/read-all")
    async def read_all(principal: CurrentPrincipal) -> dict[str, int]:
        params = {"org_id": org_id} if (org_id := _org_of(principal)) else {}
        result: dict[str, int] = await notify.call("POST", "feed/{}/read-all", principal.sub, params=params)
        return result

    @router.post("/me/notifications/{notification_id}/read", status_code=204)
    async def read_one(notification_id: Id, principal: CurrentPrincipal) -> Response:
        params = {"org_id": org_id} if (org_id := _org_of(principal)) else {}
        await notify.call("POST", "feed/{}/{}/read", principal.sub, notification_id, params=params)
        return Response(status_code=204)

    # -- preferences --------------------------------------------------------------------------

    @router.get("/me/notification-preferences", response_model=Preferences)
    async def my_preferences(principal: CurrentPrincipal) -> Any:
        return await notify.call("GET", "preferences/{}", principal.sub)

    @router.put("/me/notification-preferences", response_model=Preferences, dependencies=counted)
    async def set_my_preferences(body: Preferences, principal: CurrentPrincipal) -> Any:
        return await notify.call("PUT", "preferences/{}", principal.sub, json=body.model_dump(mode="json"))

    # -- Web Push -----------------------------------------------------------------------------

    @router.get("/push/vapid-public-key")
    async def vapid_public_key() -> dict[str, str]:
        """The applicationServerKey for `PushManager.subscribe()` (public, no token needed)."""
        result: dict[str, str] = await notify.call("GET", "push/vapid-public-key")
        return result

    @router.post("/me/push-subscriptions", status_code=201, dependencies=counted)
    async def subscribe(body: PushSubscriptionIn, principal: CurrentPrincipal, response: Response) -> Any:
        params = {"org_id": org_id} if (org_id := _org_of(principal)) else {}
        created = await notify.call(
            "POST",
            "push-subscriptions/{}",
            principal.sub,
            json=body.model_dump(mode="json", by_alias=True),
            params=params,
        )
        return created

    @router.get("/me/push-subscriptions")
    async def my_subscriptions(principal: CurrentPrincipal) -> Any:
        return await notify.call("GET", "push-subscriptions/{}", principal.sub)

    @router.delete("/me/push-subscriptions/{subscription_id}", status_code=204, dependencies=counted)
    async def unsubscribe(subscription_id: Id, principal: CurrentPrincipal) -> Response:
        await notify.call("DELETE", "push-subscriptions/{}/{}", principal.sub, subscription_id)
        return Response(status_code=204)

    # -- webhooks of organisations and monitoring connectors ----------------------------------

    @router.post("/webhooks", status_code=201, tags=["webhooks"], dependencies=counted)
    async def add_webhook(body: WebhookIn, principal: CurrentPrincipal) -> Any:
        """Signed events to an organisation's system (admin, its operators) or, for social appeals,
        to a monitoring connector (role monitor). The `secret` is shown once.

        Operators register their own organisation's webhooks only, connectors social ones only (else
        403)."""
        require_role(principal, Role.ADMIN, Role.OPERATOR, Role.MONITOR)
        scope, org_id = body.scope, body.org_id
        if principal.role is Role.OPERATOR:
            if (org_id and org_id != principal.org_id) or scope is WebhookScope.SOCIAL:
                raise Problem(403, "an operator registers webhooks of their own organisation only")
            scope, org_id = WebhookScope.ORGANIZATION, principal.org_id
        elif principal.role is Role.MONITOR:
            if org_id or scope is WebhookScope.ORGANIZATION:
                raise Problem(403, "a monitoring connector registers social webhooks only")
            scope = WebhookScope.SOCIAL
        else:
            scope = scope or (WebhookScope.ORGANIZATION if org_id else WebhookScope.SOCIAL)
        create = contract(
            WebhookCreate,
            **body.model_dump(exclude={"scope", "org_id"}),
            scope=scope,
            org_id=org_id if scope is WebhookScope.ORGANIZATION else None,
            created_by=principal.sub,
            # a connector's social webhook carries only its own incidents (notify checks it)
            monitor_id=principal.sub if principal.role is Role.MONITOR else None,
        )
        payload = create.model_dump(mode="json")
        return await notify.call("POST", "webhooks", json=payload)

    @router.get("/webhooks", tags=["webhooks"])
    async def list_webhooks(principal: CurrentPrincipal) -> Any:
        require_role(principal, Role.ADMIN, Role.OPERATOR, Role.MONITOR)
        return await notify.call("GET", "webhooks", params=_webhook_owner(principal))

    @router.delete("/webhooks/{webhook_id}", status_code=204, tags=["webhooks"], dependencies=counted)
    async def remove_webhook(webhook_id: Id, principal: CurrentPrincipal) -> Response:
        require_role(principal, Role.ADMIN, Role.OPERATOR, Role.MONITOR)
        await notify.call("DELETE", "webhooks/{}", webhook_id, params=_webhook_owner(principal))
        return Response(status_code=204)

    # -- organisations' mailboxes -------------------------------------------------------------

    def check_org(principal: Principal, org_id: str) -> None:
        """Raises Problem 403 unless the principal is an admin or an operator of `org_id`."""
        require_role(principal, Role.ADMIN, Role.OPERATOR)
        if principal.role is Role.OPERATOR and principal.org_id != org_id:
            raise Problem(403, "an operator manages their own organisation's contacts only")

    @router.get("/organizations/{org_id}/notification-contacts", response_model=OrgContacts)
    async def org_contacts(org_id: Id, principal: CurrentPrincipal) -> Any:
        check_org(principal, org_id)
        return await notify.call("GET", "organizations/{}/contacts", org_id)

    @router.put(
        "/organizations/{org_id}/notification-contacts", response_model=OrgContacts, dependencies=counted
    )
    async def set_org_contacts(org_id: Id, body: OrgContacts, principal: CurrentPrincipal) -> Any:
        """Mailboxes of the operators (new appeals, deadlines due soon) and of the supervisor (overdue).

        422 when an address is not one notify can deliver to; 403 for another organisation's
        operator."""
        check_org(principal, org_id)
        document = body.model_dump(mode="json")
        for field in ("operator_emails", "supervisor_emails"):
            try:  # the same rule as every door: only what notify can deliver to
                document[field] = [check_email(a, smtputf8=smtputf8).normalized for a in document[field]]
            except InvalidEmail as exc:
                raise Problem(422, f"{field}: {exc}") from None
        return await notify.call(
            "PUT",
            "organizations/{}/contacts",
            org_id,
            json=document,
            params={"updated_by": principal.sub},
        )

    # -- failed deliveries --------------------------------------------------------------------

    @router.get("/admin/dead-letters", tags=["admin"])
    async def dead_letters(principal: CurrentPrincipal, limit: Limit = 50, offset: Offset = 0) -> Any:
        """Deliveries that failed (newest first) with the reason; no addresses are shown."""
        require_role(principal, Role.ADMIN)
        return await notify.call("GET", "dead-letters", params={"limit": limit, "offset": offset})

    @router.post("/admin/dead-letters/{delivery_id}/retry", status_code=202, tags=["admin"])
    async def retry_dead_letter(delivery_id: Id, principal: CurrentPrincipal) -> Any:
        require_role(principal, Role.ADMIN)
        return await notify.call("POST", "dead-letters/{}/retry", delivery_id)

    return router
