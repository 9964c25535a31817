"""The web's only way out: the public gateway API (`/api/v1`), the same calls a mobile app makes.

Every call carries the person's bearer token (when signed in); errors come back as
`GatewayError` with the RFC 9457 problem's status, detail and field errors, so pages can show
them next to the fields. Nothing here logs a token or a body.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from services.web.settings import WebSettings

PUBLIC_CACHE_SECONDS = 30.0


class GatewayError(Exception):
    """A non-2xx answer: `status`, the problem's `detail`, `errors` ([{loc, msg, type}]) and its
    machine-readable `reason` when it has one (e.g. `already_voted`)."""

    def __init__(
        self, status: int, detail: str, errors: list[dict[str, Any]] | None = None, reason: str = ""
    ) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail
        self.errors = errors or []
        self.reason = reason


class Gateway:
    def __init__(self, settings: WebSettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._client = httpx.AsyncClient(
            base_url=settings.gateway_url.rstrip("/") + "/api/v1",
            timeout=settings.gateway_timeout_seconds,
            transport=transport,
            follow_redirects=False,
        )
        self._cache: dict[str, tuple[float, Any]] = {}

    async def close(self) -> None:
        await self._client.aclose()

    async def call(
        self,
        method: str,
        path: str,
        token: str | None = None,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        files: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """JSON of a 2xx answer (None for 204). Raises GatewayError otherwise, and 503 when the
        gateway cannot be reached."""
        all_headers = dict(headers or {})
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        query = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        try:
            response = await self._client.request(
                method, path, json=json, params=query, files=files, headers=all_headers
            )
        except httpx.HTTPError as exc:
            raise GatewayError(503, "the gateway cannot be reached") from exc
        if response.status_code >= 400:
            raise _error(response)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    async def cached(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """Public, read-mostly data (topics, areas, statistics): kept for a short while."""
        key = path + repr(sorted((params or {}).items()))
        hit = self._cache.get(key)
        if hit and time.monotonic() - hit[0] < PUBLIC_CACHE_SECONDS:
            return hit[1]
        value = await self.call("GET", path, params=params)
        self._cache[key] = (time.monotonic(), value)
        return value

    async def media_link(self, token: str | None, media_id: str, variant: str) -> str:
        """The short-lived signed link the gateway redirects to (never shown in a page).

        Raises GatewayError 503 when the gateway cannot be reached, and the gateway's own status
        when it does not redirect."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            response = await self._client.get(
                f"/media/{media_id}", params={"variant": variant}, headers=headers
            )
        except httpx.HTTPError as exc:
            raise GatewayError(503, "the gateway cannot be reached") from exc
        if response.status_code not in (302, 303, 307):
            raise _error(response)
        return response.headers["location"]

    async def fetch_media(self, url: str, limit: int) -> tuple[bytes, str]:
        """The bytes behind a signed link the gateway gave (http/https only, at most `limit`).

        Raises GatewayError 502 for a non-http(s) link, a non-200 answer or more than `limit` bytes."""
        if not url.startswith(("http://", "https://")):
            raise GatewayError(502, "unexpected media link")
        async with self._client.stream("GET", url) as response:
            if response.status_code != 200:
                raise GatewayError(502, "the file could not be fetched")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body.extend(chunk)
                if len(body) > limit:
                    raise GatewayError(502, "the file is too large")
            return bytes(body), response.headers.get("content-type", "application/octet-stream")

    async def ready(self) -> bool:
        try:
            response = await self._client.get("/topics", timeout=3.0)
        except httpx.HTTPError:
            return False
        return response.status_code == 200


def _error(response: httpx.Response) -> GatewayError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    detail = str(body.get("detail") or response.reason_phrase or "error")
    errors = body.get("errors") if isinstance(body.get("errors"), list) else None
    return GatewayError(response.status_code, detail, errors, str(body.get("reason") or ""))
