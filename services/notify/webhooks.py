"""Outgoing webhooks: the event as JSON, signed with the webhook's secret (see signing.py).

The target's address is checked at every delivery and the connection pinned to the checked
address (outbound.py); redirects are never followed. 2xx is delivered. 408, 425, 429, 5xx and
network errors are retried with backoff (by the event consumer, then the dead-letter queue);
3xx and other 4xx mean the receiver refuses it: not retried. What is recorded (and shown in the
admin's dead-letter view) is a neutral category, never the receiver's status code or body:
an internal service's answer must not be readable through us. The code goes to the log only.
"""

from __future__ import annotations

import json
import time

import httpx

from libs.common.logging import get_logger
from libs.common.store import Database
from services.notify import signing
from services.notify.addresses import BlockedTarget
from services.notify.channels import WEBHOOKS, PermanentDeliveryError, TransientDeliveryError
from services.notify.outbound import AddressGuard, guarded_client
from services.notify.schemas import ChannelName, Delivery

log = get_logger(__name__)

RETRYABLE = frozenset({408, 425, 429})
NOT_PUBLIC = "webhook target refused: not a public address"


class WebhookChannel:
    name = ChannelName.WEBHOOK

    def __init__(
        self,
        db: Database,
        timeout: float,
        guard: AddressGuard,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """`transport` (tests) replaces the network; the guard's check still runs before a send."""
        self._db = db
        self._timeout = timeout
        self._guard = guard
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    async def send(self, delivery: Delivery) -> None:
        """POST the event, signed (timestamp + HMAC headers, `signing`), to the delivery's webhook;
        the answer's body is never read. Raises PermanentDeliveryError (the webhook was removed, its
        host is not public, a redirect or a 4xx refusal) or TransientDeliveryError (unreachable, 5xx
        or a retryable status: retried later)."""
        webhook = await self._db[WEBHOOKS].find_one({"_id": delivery.target.get("webhook_id")})
        if webhook is None:
            raise PermanentDeliveryError("the webhook was removed")
        try:
            await self._guard.check_url(webhook["url"])
        except BlockedTarget:
            raise PermanentDeliveryError(NOT_PUBLIC) from None
        except (OSError, ValueError):
            raise TransientDeliveryError("webhook unreachable (its host does not resolve)") from None
        body = json.dumps(delivery.content["body"], ensure_ascii=False, separators=(",", ":")).encode()
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "appeals-notify/1",
            signing.TIMESTAMP_HEADER: str(timestamp),
            signing.SIGNATURE_HEADER: signing.signature(webhook["secret"], timestamp, body),
            signing.EVENT_HEADER: delivery.event_type,
            signing.DELIVERY_HEADER: delivery.id,
        }
        if self._client is None:
            self._client = guarded_client(self._guard, self._timeout, self._transport)
        try:
            # Streamed and never read: the receiver's body is neither stored nor shown.
            async with self._client.stream("POST", webhook["url"], content=body, headers=headers) as answer:
                status = answer.status_code
        except BlockedTarget:  # the name resolved elsewhere at connect time (DNS rebinding)
            raise PermanentDeliveryError(NOT_PUBLIC) from None
        except (httpx.HTTPError, OSError) as exc:
            raise TransientDeliveryError(f"webhook unreachable ({type(exc).__name__})") from None
        if 200 <= status < 300:
            return
        log.info("webhook answered", status=status, webhook_id=webhook["_id"])
        if status >= 500 or status in RETRYABLE:
            raise TransientDeliveryError("webhook failed temporarily (server error or busy)")
        if 300 <= status < 400:
            raise PermanentDeliveryError("webhook answered with a redirect (not followed)")
        raise PermanentDeliveryError("webhook refused the event")

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
