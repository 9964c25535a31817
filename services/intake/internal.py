"""How the gateway calls the other services' internal HTTP APIs, in one place.

Each service owns its data; the gateway asks over HTTP with the shared internal token. Errors
map the same way for every service: unreachable or failing → 503; its 4xx (a clear problem the
caller caused) passes through with its detail; its refusal of our token is our fault → 503.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import httpx
from fastapi import Path

from libs.common.auth import INTERNAL_TOKEN_HEADER
from libs.common.http import Problem
from libs.common.logging import get_logger
from services.intake.settings import IntakeSettings

log = get_logger(__name__)

# Every id in the platform (uuid hex, numbers, slugs, topic codes) fits this; anything else is
# refused at the door with 422 instead of travelling further.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"
Id = Annotated[str, Path(pattern=ID_PATTERN, description="an identifier: letters, digits, . _ : @ -")]

# Fields of a service's problem+json worth handing on to the caller besides `detail`.
PASSED_ON = ("reason", "errors", "problems", "status_now", "allowed_actions")


class InternalService:
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

    async def close(self) -> None:
        await self._client.aclose()

    async def request(self, method: str, path: str, *parts: str, **kwargs: Any) -> httpx.Response:
        """`path` is a template like "/media/{}/link"; `parts` are quoted into it safely."""
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
        """The JSON answer; a 4xx becomes the caller's problem with the service's own detail."""
        return body_of(await self.request(method, path, *parts, **kwargs))


def body_of(response: httpx.Response) -> Any:
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
