"""Outgoing webhooks: the event as JSON, signed with the webhook's secret (see signing.py).

2xx is delivered. 408, 425, 429, 5xx and network errors are retried with backoff (by the event
consumer, then the dead-letter queue); other 4xx mean the receiver refuses it: not retried.
"""

from __future__ import annotations

import json
import time

import httpx

from libs.common.store import Database
from services.notify import signing
from services.notify.channels import WEBHOOKS, PermanentDeliveryError, TransientDeliveryError
from services.notify.schemas import ChannelName, Delivery

RETRYABLE = frozenset({408, 425, 429})


class WebhookChannel:
    name = ChannelName.WEBHOOK

    def __init__(
        self, db: Database, timeout: float, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._db = db
        self._timeout = timeout
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    async def send(self, delivery: Delivery) -> None:
        webhook = await self._db[WEBHOOKS].find_one({"_id": delivery.target.get("webhook_id")})
        if webhook is None:
            raise PermanentDeliveryError("the webhook was removed")
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
            self._client = httpx.AsyncClient(
                timeout=self._timeout, follow_redirects=False, transport=self._transport
            )
        try:
            response = await self._client.post(webhook["url"], content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise TransientDeliveryError(f"webhook unreachable ({type(exc).__name__})") from None
        status = response.status_code
        if 200 <= status < 300:
            return
        if status >= 500 or status in RETRYABLE:
            raise TransientDeliveryError(f"webhook answered {status}")
        raise PermanentDeliveryError(f"webhook refused the event ({status})")

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
