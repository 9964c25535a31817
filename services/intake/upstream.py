"""What the gateway's own flows ask of routing (the topics) and media (who owns a file)."""

from __future__ import annotations

import time
from typing import Any

import httpx

from services.intake.internal import InternalService, body_of
from services.intake.settings import IntakeSettings


class Upstream:
    def __init__(self, settings: IntakeSettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._settings = settings
        self.routing = InternalService("routing", settings.routing_url, settings, transport)
        self.media = InternalService("media", settings.media_url, settings, transport)
        self._topics: list[dict[str, Any]] | None = None
        self._topics_at = 0.0

    async def close(self) -> None:
        await self.routing.close()
        await self.media.close()

    async def topics(self) -> list[dict[str, Any]]:
        """The routing catalogue, cached briefly: it changes rarely and is read on every submit."""
        if self._topics is None or time.monotonic() - self._topics_at > self._settings.topics_cache_seconds:
            self._topics, self._topics_at = await self.routing.call("GET", "/topics"), time.monotonic()
        return self._topics

    async def media_metadata(self, media_id: str) -> dict[str, Any] | None:
        response = await self.media.request("GET", "/media/{}", media_id)
        if response.status_code == 404:
            return None
        meta: dict[str, Any] = body_of(response)
        return meta
