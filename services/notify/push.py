"""Web Push: payloads encrypted for the browser (RFC 8291, aes128gcm) and signed with VAPID
(RFC 8292) by pywebpush. A subscription the push service calls gone (404/410) is removed."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid
from pywebpush import WebPushException, webpush_async

from libs.common.logging import get_logger
from libs.common.store import Database, Document
from services.notify.addresses import BlockedTarget
from services.notify.channels import (
    PUSH_SUBSCRIPTIONS,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from services.notify.outbound import AddressGuard, RedirectRefused, guarded_session
from services.notify.rendering import push_payload
from services.notify.schemas import ChannelName, Delivery, Notification
from services.notify.settings import NotifySettings

log = get_logger(__name__)

GONE = frozenset({404, 410})
REFUSED = frozenset({400, 403, 413})  # a malformed message or a key the service does not accept
NOT_PUBLIC = "push endpoint refused: not a public address"


@dataclass(frozen=True)
class VapidKeys:
    signer: Vapid
    public_key: str  # base64url of the uncompressed point: the browser's applicationServerKey
    ephemeral: bool = False

    @classmethod
    def from_settings(cls, settings: NotifySettings) -> VapidKeys | None:
        """The configured pair; in dev mode without one, a fresh pair for this process only."""
        if settings.vapid_private_key is not None:
            raw = settings.vapid_private_key.get_secret_value().strip()
            signer = Vapid.from_pem(raw.encode()) if raw.startswith("-----") else Vapid.from_string(raw)
            return cls(signer, _public_key(signer))
        if settings.is_dev:
            signer = Vapid()
            signer.generate_keys()
            log.warning(
                "no VAPID key configured: using an ephemeral pair; subscriptions end with the process"
            )
            return cls(signer, _public_key(signer), ephemeral=True)
        return None


def _public_key(signer: Vapid) -> str:
    point = signer.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return base64.urlsafe_b64encode(point).rstrip(b"=").decode()


class WebPushChannel:
    name = ChannelName.PUSH

    def __init__(
        self,
        db: Database,
        keys: VapidKeys,
        settings: NotifySettings,
        guard: AddressGuard,
        removed: Callable[[Document], None] = lambda subscription: None,
    ) -> None:
        """`removed` is told of each subscription this channel removes (Registry.subscription_removed)."""
        self._db = db
        self._removed = removed
        self._guard = guard
        self._keys = keys
        self._subject = settings.vapid_subject
        self._ttl = settings.push_ttl_seconds
        self._timeout = settings.push_timeout
        self._app_url = settings.app_url
        self._session: aiohttp.ClientSession | None = None

    async def send(self, delivery: Delivery) -> None:
        """Web Push the notification to the delivery's subscription. Raises PermanentDeliveryError
        (the subscription is gone or removed, the target is not public, the service refuses or
        redirects, the keys are unusable) or TransientDeliveryError (unreachable, a temporary
        failure: retried later)."""
        subscription_id = str(delivery.target.get("subscription_id"))
        subscription = await self._db[PUSH_SUBSCRIPTIONS].find_one({"_id": subscription_id})
        if subscription is None:
            raise PermanentDeliveryError("the push subscription was removed")
        note = Notification.model_validate(delivery.content)
        try:  # IP literals never reach aiohttp's resolver: checked here, names again at connect
            await self._guard.check_url(subscription["endpoint"])
        except BlockedTarget:
            raise PermanentDeliveryError(NOT_PUBLIC) from None
        except (OSError, ValueError):
            raise TransientDeliveryError("push service unreachable (its host does not resolve)") from None
        if self._session is None:
            self._session = guarded_session(self._guard)
        try:
            data = push_payload(note, app_url=self._app_url)  # bounded to one 4096-byte record
        except ValueError as exc:
            raise PermanentDeliveryError(str(exc)) from None
        try:
            await webpush_async(
                {"endpoint": subscription["endpoint"], "keys": dict(subscription["keys"])},
                data=data,
                vapid_private_key=self._keys.signer,
                vapid_claims={"sub": self._subject},  # a fresh dict: pywebpush adds aud and exp to it
                ttl=self._ttl,
                timeout=self._timeout,
                headers={"Urgency": "high" if note.urgent else "normal"},
                aiohttp_session=self._session,
            )
        except WebPushException as exc:
            # Neutral categories only (the dead-letter view shows them); the code goes to the log.
            status = exc.status_code
            log.info("push service answered", status=status)
            if status in GONE:
                await self._db[PUSH_SUBSCRIPTIONS].delete_one({"_id": subscription_id})
                self._removed(subscription)
                raise PermanentDeliveryError("the push subscription is gone") from None
            if status == 413:  # should never happen: push_payload bounds the size; a bug if it does
                log.error("push service: payload too large", status=status, bytes=len(data.encode()))
            if status in REFUSED or (status is not None and 300 <= status < 400):
                raise PermanentDeliveryError("the push service refused the message") from None
            raise TransientDeliveryError("the push service failed temporarily") from None
        except (BlockedTarget, RedirectRefused) as exc:  # rebinding at connect time; a redirect
            text = (
                NOT_PUBLIC if isinstance(exc, BlockedTarget) else "the push service redirected (not followed)"
            )
            raise PermanentDeliveryError(text) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise TransientDeliveryError(f"push service unreachable ({type(exc).__name__})") from None
        except ValueError as exc:  # malformed subscription keys
            raise PermanentDeliveryError(f"unusable push subscription ({type(exc).__name__})") from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
