"""How the gateway calls another service's internal HTTP API: one policy for every service.

Each service owns its data; the gateway asks over HTTP with the shared internal token. Errors
map the same way for every service: unreachable or failing → 503; its 4xx (a clear problem the
caller caused) passes through with its detail; its refusal of our token is our fault → 503.
Caching, where an answer is public and read often, is `TtlCache`'s: a time to live per entry and
a bound on the entries.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from libs.common.auth import INTERNAL_TOKEN_HEADER
from libs.common.http import Problem
from libs.common.logging import get_logger
from services.intake.settings import IntakeSettings

log = get_logger(__name__)

# Fields of a service's problem+json worth handing on to the caller besides `detail`.
PASSED_ON = ("reason", "errors", "problems", "status_now", "allowed_actions")

V = TypeVar("V")
M = TypeVar("M", bound=BaseModel)


def contract(model: type[M], **fields: Any) -> M:
    """A request of a service's contract (`libs/common/contracts/`) built by the gateway from a
    person's input; raises `Problem(422)` with the first error where the service would refuse it."""
    try:
        return model(**fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise Problem(422, f"{where}: {first['msg']}") from None


class InternalService:
    """One service's internal API (`<base_url>/internal`): one `httpx.AsyncClient` carrying the
    internal token, with the settings' timeout (`upstream_timeout_seconds`, seconds). Built once
    per process (`clients.InternalClients`) and closed once, by the app's lifespan."""

    def __init__(
        self,
        name: str,
        base_url: str,
        settings: IntakeSettings,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name = name
        self._client = httpx.AsyncClient(
            base_url=f"{base_url.rstrip('/')}/internal",
            headers={INTERNAL_TOKEN_HEADER: settings.internal_token.get_secret_value()},
            timeout=settings.upstream_timeout_seconds,
            transport=transport,
        )

    @property
    def closed(self) -> bool:
        return self._client.is_closed

    async def close(self) -> None:
        await self._client.aclose()

    async def request(self, method: str, path: str, *parts: str, **kwargs: Any) -> httpx.Response:
        """The raw answer of `method path` (a template like "/media/{}/link"; `parts` are quoted
        into it safely); `kwargs` go to httpx (params, json, content, headers, timeout).

        Raises `Problem(503)` when the service is unreachable, answers 5xx, or refuses our token
        (401/403). Any other status, 4xx included, is returned for the caller to judge."""
        url = path.format(*(quote(part, safe="") for part in parts))
        try:
            response = await self._client.request(method, url, **kwargs)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise Problem(503, f"the {self.name} service is unavailable, try again shortly") from exc
        if response.status_code >= 500 or response.status_code in (401, 403):
            log.error("internal call failed", service=self.name, status=response.status_code, path=path)
            raise Problem(503, f"the {self.name} service failed, try again shortly")
        return response

    async def call(self, method: str, path: str, *parts: str, **kwargs: Any) -> Any:
        """The decoded JSON answer (None for an empty body). Raises `Problem(503)` as `request`
        does, and the service's 4xx as the caller's `Problem` with its detail (`body_of`)."""
        return body_of(await self.request(method, path, *parts, **kwargs))


def body_of(response: httpx.Response) -> Any:
    """The JSON body of a service's answer; for a status >= 400 raises `Problem` with the same
    status, the service's `detail`, `title`, `Retry-After` and the `PASSED_ON` fields."""
    try:
        body = response.json() if response.content else None
    except ValueError:
        body = {"detail": response.text}
    if response.status_code >= 400:
        problem = body if isinstance(body, dict) else {}
        extra = {key: problem[key] for key in PASSED_ON if key in problem}
        retry_after = response.headers.get("retry-after")
        raise Problem(
            response.status_code,
            str(problem.get("detail") or response.reason_phrase),
            title=problem.get("title"),
            headers={"Retry-After": retry_after} if retry_after else None,
            **extra,
        )
    return body


class TtlCache(Generic[V]):
    """Answers kept `seconds` (monotonic clock) per key, at most `max_entries` keys (when full,
    it is emptied: the keys are few and cheap to ask again). A failed load is not cached: its
    `Problem` reaches the caller and the next request asks again."""

    def __init__(self, seconds: float, max_entries: int = 1) -> None:
        self.seconds = seconds
        self.max_entries = max_entries
        self._entries: dict[Hashable, tuple[float, V]] = {}

    async def get(self, key: Hashable, load: Callable[[], Awaitable[V]]) -> V:
        """The cached value of `key` if younger than `seconds`, else `await load()` (stored)."""
        cached = self._entries.get(key)
        if cached is not None and time.monotonic() - cached[0] <= self.seconds:
            return cached[1]
        value = await load()
        if key not in self._entries and len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key] = (time.monotonic(), value)
        return value
