"""Calls from the gateway to the internal HTTP APIs of routing, media and notify.

Each service owns its data; the gateway asks, it never reads another service's store.
"""

from __future__ import annotations

import time
from typing import Any, BinaryIO

import httpx

from libs.common.auth import INTERNAL_TOKEN_HEADER
from libs.common.http import Problem
from services.intake.settings import IntakeSettings


class Upstream:
    def __init__(self, settings: IntakeSettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._settings = settings
        self._client = httpx.AsyncClient(
            headers={INTERNAL_TOKEN_HEADER: settings.internal_token.get_secret_value()},
            timeout=settings.upstream_timeout_seconds,
            transport=transport,
        )
        self._topics: list[dict[str, Any]] | None = None
        self._topics_at = 0.0

    async def close(self) -> None:
        await self._client.aclose()

    async def _call(self, service: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise Problem(503, f"the {service} service is unavailable, try again shortly") from exc
        if response.status_code >= 500:
            raise Problem(503, f"the {service} service failed, try again shortly")
        return response

    async def topics(self) -> list[dict[str, Any]]:
        """The routing catalogue, cached briefly: it changes rarely and is read on every submit."""
        if self._topics is None or time.monotonic() - self._topics_at > self._settings.topics_cache_seconds:
            response = await self._call("routing", "GET", f"{self._settings.routing_url}/internal/topics")
            response.raise_for_status()
            self._topics, self._topics_at = response.json(), time.monotonic()
        return self._topics

    async def upload_media(
        self, owner_id: str, filename: str, content_type: str, stream: BinaryIO
    ) -> dict[str, Any]:
        response = await self._call(
            "media",
            "POST",
            f"{self._settings.media_url}/internal/media",
            headers={"X-Owner-Id": owner_id},
            files={"file": (filename, stream, content_type)},
        )
        return _passthrough(response)

    async def media_metadata(self, media_id: str) -> dict[str, Any] | None:
        response = await self._call("media", "GET", f"{self._settings.media_url}/internal/media/{media_id}")
        return None if response.status_code == 404 else _passthrough(response)

    async def media_link(self, media_id: str) -> str:
        response = await self._call(
            "media", "GET", f"{self._settings.media_url}/internal/media/{media_id}/link"
        )
        return str(_passthrough(response)["url"])

    async def feed(self, user_id: str, limit: int, offset: int) -> dict[str, Any]:
        response = await self._call(
            "notify",
            "GET",
            f"{self._settings.notify_url}/internal/feed/{user_id}",
            params={"limit": limit, "offset": offset},
        )
        return _passthrough(response)


def _passthrough(response: httpx.Response) -> dict[str, Any]:
    """Hand a 4xx of an internal service on to the caller with its own clear detail."""
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail") or response.text
        except ValueError:
            detail = response.text
        raise Problem(response.status_code, str(detail))
    body: dict[str, Any] = response.json()
    return body
