"""One client per internal service, built in one place and closed in one place.

`InternalClients` holds the gateway's five clients (routing, media, notify, polls, deadlines),
each one `InternalService` (one `httpx.AsyncClient`, one error policy: internal.py). The app
builds it once (`services/intake/app.py`) and closes it once, on shutdown. Requests the gateway
sends are validated with the owning service's contract (`libs/common/contracts/`), so a body the
service would refuse is refused at the gateway's door with the same 422.

It is also the appeal aggregate's `Upstream` (services/intake/upstream.py): the topics and a
file's metadata, the only two things the aggregate asks of other services.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, Literal, Self
from urllib.parse import urlencode

import httpx

from libs.common.contracts.media import OWNER_HEADER, PublishRequest, Variant
from libs.common.contracts.routing import (
    ACTOR_HEADER,
    AssignmentPage,
    AssignmentView,
    CatalogueEntity,
    ClusterPage,
    ModerationDecisionIn,
    ModerationVerdict,
    TextModerationRequest,
    TextModerationResult,
    TriageDecisionIn,
)
from libs.common.http import Problem
from services.intake.gateway.internal import InternalService, TtlCache, body_of
from services.intake.masking import mask_public
from services.intake.settings import IntakeSettings

PUBLIC_ROUTING_CACHE_SECONDS = 30.0  # problem zones, areas: public, read often, change slowly
PUBLIC_STATS_CACHE_SECONDS = 60.0
PUBLIC_STATS_CACHE_ENTRIES = 64
UPLOAD_TIMEOUT = httpx.Timeout(120.0, connect=5.0)  # a big photo takes a while to decode and re-encode


class RoutingClient(InternalService):
    """Routing's internal API: topics, catalogue, moderation, triage, clusters, problem zones."""

    def __init__(self, settings: IntakeSettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__("routing", settings.routing_url, settings, transport)
        self._topics: TtlCache[list[dict[str, Any]]] = TtlCache(settings.topics_cache_seconds)
        self._public: TtlCache[Any] = TtlCache(PUBLIC_ROUTING_CACHE_SECONDS, max_entries=2)

    async def topics(self) -> list[dict[str, Any]]:
        """The topics catalogue (`[{code, name, category, ...}]`), cached `topics_cache_seconds`:
        it changes rarely and is read on every submit. Raises `Problem(503)` if routing is down."""
        topics: list[dict[str, Any]] = await self._topics.get("topics", lambda: self.call("GET", "/topics"))
        return topics

    async def as_actor(
        self,
        method: str,
        path: str,
        *parts: str,
        params: dict[str, Any] | None = None,
        json: Any = None,
        actor: str | None = None,
    ) -> Any:
        """`call` with the caller's id in `X-Actor` (routing's change log) and the `None` params
        left out. Raises as `InternalService.call`."""
        headers = {ACTOR_HEADER: actor} if actor else None
        query = {k: v for k, v in (params or {}).items() if v is not None}
        return await self.call(method, path, *parts, params=query, json=json, headers=headers)

    async def decide(
        self,
        queue: Literal["moderation", "triage"],
        appeal_id: str,
        decision: ModerationDecisionIn | TriageDecisionIn,
        actor: str,
    ) -> AssignmentView:
        """An admin's decision on an appeal held in routing's `queue` ("moderation" or "triage"),
        as the admin gave it (fields left out stay out): routing's record after it. Raises as
        `InternalService.call` (routing's 4xx problem passes through)."""
        body = decision.model_dump(mode="json", exclude_unset=True)
        answer = await self.as_actor("POST", f"/{queue}/{{}}", appeal_id, json=body, actor=actor)
        return AssignmentView.model_validate(answer)

    async def waiting(
        self, queue: Literal["moderation", "triage"], limit: int, offset: int
    ) -> AssignmentPage:
        """A page of routing's `queue` ("moderation": held for a moderator; "triage": the control
        centre's), oldest first. Raises as `InternalService.call`."""
        page = await self.call("GET", f"/{queue}", params={"limit": limit, "offset": offset})
        return AssignmentPage.model_validate(page)

    async def assignment(self, appeal_id: str) -> AssignmentView:
        """Routing's record of one appeal. Raises as `InternalService.call` (404 passes through)."""
        return AssignmentView.model_validate(await self.call("GET", "/assignments/{}", appeal_id))

    async def clusters(
        self, organization_id: str | None, topic: str | None, limit: int, offset: int
    ) -> ClusterPage:
        """A page of routing's clusters, newest activity first (those holding an appeal of
        `organization_id` when given). Raises as `InternalService.call`."""
        params = {"organization_id": organization_id, "topic": topic, "limit": limit, "offset": offset}
        return ClusterPage.model_validate(await self.as_actor("GET", "/clusters", params=params))

    async def public_areas(self) -> dict[str, Any]:
        """The active municipalities as a GeoJSON FeatureCollection: id, name and boundary only
        (the routing aliases and the answering organisation stay internal). Cached 30 s."""

        async def load() -> dict[str, Any]:
            areas = await self.call("GET", "/catalogue/{}", CatalogueEntity.AREAS.value)
            features = [
                {
                    "type": "Feature",
                    "id": area["id"],
                    "properties": {"id": area["id"], "name": area["name"]},
                    "geometry": area["geometry"],
                }
                for area in areas
                if area.get("active", True)
            ]
            return {"type": "FeatureCollection", "features": features}

        areas: dict[str, Any] = await self._public.get("areas", load)
        return areas

    async def problem_zones(self) -> Any:
        """Routing's problem-zones summary, masked for the public (no personal data in any text
        routing puts in) and each area × topic row linked to its public appeals. Cached 30 s."""

        async def load() -> Any:
            return _with_public_links(mask_public(await self.call("GET", "/problem-zones")))

        return await self._public.get("zones", load)

    async def check_areas(self, area_ids: list[str]) -> None:
        """Raises `Problem(422, reason="unknown_area")` naming the first area id the catalogue
        does not hold (or has retired); `Problem(503)` if routing is down."""
        areas = await self.call("GET", "/catalogue/{}", CatalogueEntity.AREAS.value)
        known = {str(a.get("id")) for a in areas or [] if isinstance(a, dict) and a.get("active", True)}
        if unknown := [area for area in area_ids if area not in known]:
            raise Problem(422, f"no area {unknown[0]} in the catalogue", reason="unknown_area")

    async def check_organization(self, org_id: str) -> None:
        """Raises `Problem(422, reason="unknown_organization")` if the catalogue has no such one."""
        response = await self.request("GET", "/catalogue/{}/{}", CatalogueEntity.ORGANIZATIONS.value, org_id)
        if response.status_code == 404:
            raise Problem(422, f"no organisation {org_id} in the catalogue", reason="unknown_organization")

    async def moderate(self, text: str) -> None:
        """Raises `Problem(422, reason="moderation")` for a text (≤ 2000 characters) the appeals'
        moderation would not accept as it stands (`review` included)."""
        request = TextModerationRequest(text=text)
        verdict = TextModerationResult.model_validate(
            await self.call("POST", "/moderate-text", json=request.model_dump(mode="json"))
        )
        if verdict.verdict is not ModerationVerdict.ACCEPT:
            detail = verdict.reason or "the opinion cannot be published as written"
            raise Problem(
                422, detail, reason="moderation", problems=[verdict.reason_code or str(verdict.verdict)]
            )


def _with_public_links(summary: Any) -> Any:
    """Each area × topic row links to the public appeals behind it (public_routes.py)."""
    for zone in (summary.get("zones") if isinstance(summary, dict) else None) or []:
        if zone.get("area_id") and zone.get("topic"):
            query = urlencode({"area_id": zone["area_id"], "topic": zone["topic"]})
            zone["public_appeals"] = f"/api/v1/public/appeals?{query}"
    return summary


class MediaClient(InternalService):
    """The media service's internal API (`libs/common/contracts/media.py`)."""

    def __init__(self, settings: IntakeSettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__("media", settings.media_url, settings, transport)

    async def check_allowance(self, owner_id: str) -> None:
        """Raises media's 429 problem (with its rule) when the owner may not upload now."""
        await self.call("GET", "/media/allowance", headers={OWNER_HEADER: owner_id})

    async def upload(
        self, owner_id: str, content_type: str, length: str | None, body: AsyncIterator[bytes]
    ) -> dict[str, Any]:
        """Stream a multipart body (`content_type` with its boundary, `length` in bytes if the
        client declared it) to media; its `UploadedMedia` answer as a dict. Raises media's 4xx
        (with a `Rejection` reason) or `Problem(503)`; up to 120 s for a big photo."""
        headers = {OWNER_HEADER: owner_id, "Content-Type": content_type}
        if length:
            headers["Content-Length"] = length
        stored: dict[str, Any] = await self.call(
            "POST", "/media", headers=headers, content=body, timeout=UPLOAD_TIMEOUT
        )
        return stored

    async def meta(self, media_id: str) -> dict[str, Any] | None:
        """The file's `MediaView` as media wrote it, or None if media has no such file (404, or an
        answer that is not a file's description, e.g. the redirect an empty id meets). Raises
        media's other 4xx as `Problem`, `Problem(503)` when media is down."""
        response = await self.request("GET", "/media/{}", media_id)
        if response.status_code == 404:
            return None
        body = body_of(response)
        return dict(body) if isinstance(body, dict) else None

    async def link(self, media_id: str, variant: Variant) -> str:
        """A short-lived signed URL of one variant (404 problem if that variant does not exist)."""
        answer = await self.call("GET", "/media/{}/link", media_id, params={"variant": str(variant)})
        return str(answer["url"])

    async def publish(self, media_id: str, public: bool, by: str) -> dict[str, Any]:
        """Make an attached file public (or private again); its `MediaView`. 409 if unattached."""
        request = PublishRequest(public=public, by=by)
        meta: dict[str, Any] = await self.call(
            "POST", "/media/{}/publish", media_id, json=request.model_dump(mode="json")
        )
        return meta

    async def delete_appeal_media(self, appeal_id: str) -> int:
        """For the appeal removal flow: every file of the appeal, all variants; how many files.
        Safe to repeat."""
        return int((await self.call("DELETE", "/appeals/{}/media", appeal_id))["deleted"])


class NotifyClient(InternalService):
    """Notify's internal API: feeds, preferences, push, webhooks, contacts, dead letters."""

    def __init__(self, settings: IntakeSettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__("notify", settings.notify_url, settings, transport)


class PollsClient(InternalService):
    """The polls service's internal API (`libs/common/contracts/polls.py`)."""

    def __init__(self, settings: IntakeSettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__("polls", settings.polls_url, settings, transport)

    async def poll(self, poll_id: str) -> dict[str, Any]:
        """The poll as polls stores it (`PollView`); its 404 problem if there is none."""
        found: dict[str, Any] = await self.call("GET", "/polls/{}", poll_id)
        return found


class DeadlinesClient(InternalService):
    """Deadlines' internal statistics API (`libs/common/contracts/deadlines.py`)."""

    def __init__(self, settings: IntakeSettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__("deadlines", settings.deadlines_url, settings, transport)
        self._public: TtlCache[Any] = TtlCache(PUBLIC_STATS_CACHE_SECONDS, PUBLIC_STATS_CACHE_ENTRIES)

    async def stats(self, path: str, params: dict[str, Any]) -> Any:
        """`GET /internal/stats/<path>` with the truthy `params` (datetimes as ISO 8601)."""
        query = {k: (v.isoformat() if isinstance(v, datetime) else str(v)) for k, v in params.items() if v}
        return await self.call("GET", "/stats/{}", path, params=query)

    async def public_stats(self, params: dict[str, Any], path: str = "public") -> Any:
        """A public table, masked (no personal data), cached 60 s per query (at most 64)."""
        key = (path, *(str(params.get(name)) for name in ("from", "to", "order_by", "month", "by")))

        async def load() -> Any:
            return mask_public(await self.stats(path, params))

        return await self._public.get(key, load)


class InternalClients:
    """The gateway's one client per internal service. `transport` (tests) answers for all of
    them in-process. Also the aggregate's `services.intake.upstream.Upstream`."""

    def __init__(self, settings: IntakeSettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.routing = RoutingClient(settings, transport)
        self.media = MediaClient(settings, transport)
        self.notify = NotifyClient(settings, transport)
        self.polls = PollsClient(settings, transport)
        self.deadlines = DeadlinesClient(settings, transport)

    @property
    def all(self) -> tuple[InternalService, ...]:
        return (self.routing, self.media, self.notify, self.polls, self.deadlines)

    async def close(self) -> None:
        """Close every client (the app's shutdown); safe to call twice."""
        for client in self.all:
            await client.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def topics(self) -> list[dict[str, Any]]:
        """`Upstream.topics`: routing's topics, cached (RoutingClient.topics)."""
        return await self.routing.topics()

    async def media_metadata(self, media_id: str) -> dict[str, Any] | None:
        """`Upstream.media_metadata`: the file's metadata, None if media has none."""
        return await self.media.meta(media_id)
