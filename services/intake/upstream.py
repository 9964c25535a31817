"""What the appeal aggregate asks of other services: a port, implemented by the gateway.

The aggregate (flows, Open311, the topics route) never imports the gateway package; it is handed
an `Upstream` by the app (`services.intake.gateway.clients.InternalClients` in the service, a
fake or a narrower client in tests and benchmarks).
"""

from __future__ import annotations

from typing import Any, Protocol


class Upstream(Protocol):
    async def topics(self) -> list[dict[str, Any]]:
        """Routing's topics catalogue, `[{"code", "name", ...}]`, possibly cached briefly.
        Raises `libs.common.http.Problem(503)` when routing is unavailable."""
        ...

    async def media_metadata(self, media_id: str) -> dict[str, Any] | None:
        """The media service's view of a file (`owner_id`, `appeal_id`, ...), None if there is
        no such file. Raises `Problem(503)` when media is unavailable."""
        ...
