"""Gateway routes for routing's catalogue, moderation queue, duplicate clusters and problem zones.

Admins read and change the catalogue (organisations, topics, rules, areas; every change is a new
catalogue version that applies to appeals routed after it), decide the manual moderation queue
and read an appeal's routing history. Operators see the clusters holding their organisation's
appeals; anyone sees the problem-zones summary (counts only, no personal data). The gateway
forwards to routing's `/internal` API with the service token and the caller's id (`X-Actor`,
recorded in the catalogue's change log); routing's answers, errors included, pass through.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from libs.common.auth import Role
from libs.common.contracts.routing import (
    AssignmentPage,
    AssignmentView,
    CatalogueEntity,
    ClusterPage,
    ModerationDecisionIn,
    TriageDecisionIn,
)
from libs.common.http import Id, Offset
from services.intake.gateway.clients import RoutingClient
from services.intake.security import CurrentPrincipal, require_role

Limit = Annotated[int, Query(ge=1, le=200)]


def catalogue_router(client: RoutingClient) -> APIRouter:
    """The admin routes under /api/v1/admin (catalogue, assignments, moderation, triage) and the
    public /api/v1/clusters, /problem-zones, /areas, all answered by routing through `client`."""
    router = APIRouter()
    admin = APIRouter(prefix="/api/v1/admin", tags=["admin: routing"])

    @admin.get("/catalogue")
    async def catalogue_info(principal: CurrentPrincipal) -> Any:
        """The catalogue's region, current version, categories and counts."""
        require_role(principal, Role.ADMIN)
        return await client.as_actor("GET", "/catalogue")

    @admin.get("/catalogue/changes")
    async def catalogue_changes(principal: CurrentPrincipal, limit: Limit = 50, offset: Offset = 0) -> Any:
        """The change log, newest first: version, who, what, before and after."""
        require_role(principal, Role.ADMIN)
        return await client.as_actor("GET", "/catalogue/changes", params={"limit": limit, "offset": offset})

    @admin.post("/catalogue/reload")
    async def catalogue_reload(principal: CurrentPrincipal) -> Any:
        """Load the catalogue data file again; its entries replace the stored ones (a new version)."""
        require_role(principal, Role.ADMIN)
        return await client.as_actor("POST", "/catalogue/reload", actor=principal.sub)

    @admin.get("/catalogue/preview")
    async def catalogue_preview(
        principal: CurrentPrincipal,
        topic: str,
        lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
        lon: Annotated[float | None, Query(ge=-180, le=180)] = None,
        address: Annotated[str | None, Query(max_length=500)] = None,
    ) -> Any:
        """Who would answer an appeal on this topic at this place now, and why (nothing is stored)."""
        require_role(principal, Role.ADMIN)
        params = {"topic": topic, "lat": lat, "lon": lon, "address": address}
        return await client.as_actor("GET", "/catalogue/preview", params=params)

    @admin.get("/catalogue/{entity}")
    async def catalogue_items(entity: CatalogueEntity, principal: CurrentPrincipal) -> Any:
        require_role(principal, Role.ADMIN)
        return await client.as_actor("GET", "/catalogue/{}", entity)

    @admin.get("/catalogue/{entity}/{item_id}")
    async def catalogue_item(entity: CatalogueEntity, item_id: str, principal: CurrentPrincipal) -> Any:
        require_role(principal, Role.ADMIN)
        return await client.as_actor("GET", "/catalogue/{}/{}", entity, item_id)

    @admin.put("/catalogue/{entity}/{item_id}")
    async def catalogue_put(
        entity: CatalogueEntity,
        item_id: Id,
        body: Annotated[dict[str, Any], Body()],
        principal: CurrentPrincipal,
    ) -> Any:
        """Create or replace an organisation, topic, rule or area. Refused (422) if the catalogue
        would break (unknown references, overlapping areas...). Applies to appeals routed from now."""
        require_role(principal, Role.ADMIN)
        return await client.as_actor(
            "PUT", "/catalogue/{}/{}", entity, item_id, json=body, actor=principal.sub
        )

    @admin.delete("/catalogue/rules/{rule_id}")
    async def catalogue_delete_rule(rule_id: Id, principal: CurrentPrincipal) -> Any:
        """Rules can be deleted; organisations, topics and areas are retired with active=false."""
        require_role(principal, Role.ADMIN)
        return await client.as_actor("DELETE", "/catalogue/rules/{}", rule_id, actor=principal.sub)

    @admin.delete("/catalogue/places/{place_id}")
    async def catalogue_delete_place(place_id: Id, principal: CurrentPrincipal) -> Any:
        """A settlement or street of the gazetteer (a street's settlement only once its streets are gone)."""
        require_role(principal, Role.ADMIN)
        return await client.as_actor("DELETE", "/catalogue/places/{}", place_id, actor=principal.sub)

    @admin.get("/assignments/{appeal_id}")
    async def assignment(appeal_id: Id, principal: CurrentPrincipal) -> AssignmentView:
        """Routing's record of an appeal: decision, catalogue version, moves and reasons."""
        require_role(principal, Role.ADMIN)
        return await client.assignment(appeal_id)

    @admin.get("/moderation")
    async def moderation_queue(
        principal: CurrentPrincipal, limit: Limit = 50, offset: Offset = 0
    ) -> AssignmentPage:
        """Appeals waiting for a moderator (borderline language, several problems, links)."""
        require_role(principal, Role.ADMIN)
        return await client.waiting("moderation", limit, offset)

    @admin.post("/moderation/{appeal_id}")
    async def moderation_decision(
        appeal_id: Id, body: ModerationDecisionIn, principal: CurrentPrincipal
    ) -> AssignmentView:
        """`{"decision": "approve"}` routes the appeal; `{"decision": "reject", "reason_code": ...}`
        rejects it with the reason the citizen will read."""
        require_role(principal, Role.ADMIN)
        return await client.decide("moderation", appeal_id, body, principal.sub)

    @admin.get("/triage")
    async def triage_queue(
        principal: CurrentPrincipal, limit: Limit = 50, offset: Offset = 0
    ) -> AssignmentPage:
        """The regional control centre's queue, oldest first: appeals every candidate organisation
        refused (`triage: exhausted`) and social-media posts not classified with confidence
        (`triage: classification`, with the text and the classifier's proposal)."""
        require_role(principal, Role.ADMIN)
        return await client.waiting("triage", limit, offset)

    @admin.post("/triage/{appeal_id}")
    async def triage_decision(
        appeal_id: Id, body: TriageDecisionIn, principal: CurrentPrincipal
    ) -> AssignmentView:
        """One decision of the control centre (role admin). Refused by everyone:
        `{"organization_id", "comment"}` names who answers (the due date stays). An unclassified post:
        `{"topic", "place": {"place_id"} | {"lat", "lon", "address"}, "comment"}` routes it, or
        `{"dismiss": true, "comment"}` rejects it as not an appeal."""
        require_role(principal, Role.ADMIN)
        return await client.decide("triage", appeal_id, body, principal.sub)

    public = APIRouter(prefix="/api/v1", tags=["problem zones"])

    @public.get("/clusters")
    async def clusters(
        principal: CurrentPrincipal,
        topic: str | None = None,
        organization_id: str | None = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> ClusterPage:
        """Appeals on one topic close in place and time (likely the same problem). Operators see the
        clusters holding their organisation's appeals; admins all, or one organisation's."""
        require_role(principal, Role.OPERATOR, Role.ADMIN)
        if principal.role is Role.OPERATOR:
            organization_id = principal.org_id
        page = await client.clusters(organization_id, topic, limit, offset)
        if principal.role is Role.OPERATOR:
            page = _own_members_only(page, principal.org_id)
        return page

    @public.get("/problem-zones")
    async def problem_zones() -> Any:
        """Where problems concentrate: appeals per area and topic over the recent period and the
        hotspots (clusters of several appeals, centre rounded to ~100 m). No personal data."""
        return await client.problem_zones()

    @public.get("/areas")
    async def areas() -> dict[str, Any]:
        """The municipalities' boundaries (GeoJSON, WGS 84) with their ids and names, for maps."""
        return await client.public_areas()

    router.include_router(admin)
    router.include_router(public)
    return router


def _own_members_only(page: ClusterPage, org_id: str | None) -> ClusterPage:
    """An operator sees the numbers of their organisation's appeals in a cluster, and only how
    many others it holds: other organisations' appeal numbers and ids are not theirs to see."""
    items = []
    for cluster in page.items:
        own = [member for member in cluster.members if member.organization_id == org_id]
        items.append(
            cluster.model_copy(update={"members": own, "other_members": len(cluster.members) - len(own)})
        )
    return page.model_copy(update={"items": items})
