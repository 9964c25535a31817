"""Routing's internal HTTP API (`/internal`, service token): the gateway proxies it for admins,
operators and the public. Parse, call a flow, return."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query

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
from libs.common.http import Offset, Problem, internal_auth
from services.routing.catalogue import CatalogueStore
from services.routing.clusters import ClusterFlows
from services.routing.flows import RoutingFlows
from services.routing.moderation import moderate
from services.routing.schemas import (
    CatalogueInfo,
    ChangeView,
    PreviewView,
    ProblemZones,
    TopicView,
)
from services.routing.service import Place, decide
from services.routing.settings import RoutingSettings
from services.routing.triage import TriageFlows

Actor = Annotated[str, Header(alias=ACTOR_HEADER, max_length=200)]
Limit = Annotated[int, Query(ge=1, le=200)]


def internal_router(
    catalogue: CatalogueStore,
    flows: RoutingFlows,
    clusters: ClusterFlows,
    settings: RoutingSettings,
    triage: TriageFlows | None = None,
) -> APIRouter:
    """Routing's /internal API (topics, the catalogue and its edits, assignments, moderation, triage,
    clusters, problem zones) behind the internal token; a catalogue reload of an unsound file
    answers Problem 422."""
    token = settings.internal_token.get_secret_value()
    triage = triage or TriageFlows(flows, catalogue, clusters)
    router = APIRouter(prefix="/internal", tags=["internal"], dependencies=[internal_auth(token)])

    @router.get("/topics", response_model=list[TopicView])
    async def topics() -> list[TopicView]:
        """The active topics, as citizens choose them."""
        cc = await catalogue.current()
        return [
            TopicView(
                **topic.model_dump(include=set(TopicView.model_fields) - {"category"}),
                category=cc.categories.get(topic.category, topic.category),
                category_code=topic.category,
            )
            for topic in cc.catalogue.topics
            if topic.active
        ]

    @router.get("/catalogue", response_model=CatalogueInfo)
    async def catalogue_info() -> CatalogueInfo:
        return await catalogue.info()

    @router.get("/catalogue/changes", response_model=list[ChangeView])
    async def changes(limit: Limit = 50, offset: Offset = 0) -> list[dict[str, Any]]:
        return await catalogue.changes(limit, offset)

    @router.post("/catalogue/reload")
    async def reload(actor: Actor = "internal") -> dict[str, int]:
        """Load the data file again (even if unchanged): its entries replace the stored ones.

        422 when the file's catalogue is not sound."""
        try:
            return {"version": await catalogue.load_file(settings.catalogue_path, force=True, actor=actor)}
        except ValueError as exc:
            raise Problem(422, str(exc)) from exc

    @router.get("/catalogue/preview", response_model=PreviewView)
    async def preview(
        topic: str,
        lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
        lon: Annotated[float | None, Query(ge=-180, le=180)] = None,
        address: Annotated[str | None, Query(max_length=500)] = None,
    ) -> PreviewView:
        """What routing would decide now for this topic and place; nothing is stored."""
        cc = await catalogue.current()
        decision = decide(cc, topic, Place(lat, lon, address), settings.near_border_m)
        return PreviewView(
            catalogue_version=decision.catalogue_version,
            organization=decision.organization,
            rule=decision.rule,
            area_id=decision.area_id,
            located_by=decision.located_by,
            answer_sla_days=decision.answer_sla_days,
            first_response_sla_hours=decision.first_response_sla_hours,
            candidates=list(decision.candidates),
        )

    @router.get("/catalogue/{entity}")
    async def list_items(entity: CatalogueEntity) -> list[dict[str, Any]]:
        return await catalogue.items(entity)

    @router.get("/catalogue/{entity}/{item_id}")
    async def get_item(entity: CatalogueEntity, item_id: str) -> dict[str, Any]:
        return await catalogue.item(entity, item_id)

    @router.put("/catalogue/{entity}/{item_id}")
    async def put_item(
        entity: CatalogueEntity,
        item_id: str,
        body: Annotated[dict[str, Any], Body()],
        actor: Actor = "internal",
    ) -> dict[str, Any]:
        """Create or replace; a new catalogue version that applies to appeals routed from now on."""
        return await catalogue.put(entity, item_id, body, actor)

    @router.delete("/catalogue/{entity}/{item_id}")
    async def delete_item(entity: CatalogueEntity, item_id: str, actor: Actor = "internal") -> dict[str, Any]:
        return await catalogue.delete(entity, item_id, actor)

    @router.post("/moderate-text", response_model=TextModerationResult)
    async def moderate_text(body: TextModerationRequest) -> TextModerationResult:
        """The appeals' moderation (moderation.py) on one free text, e.g. an opinion in a public
        hearing: nothing is stored. `review` means a moderator would have to decide."""
        outcome = moderate("", body.text, min_letters=settings.min_letters, min_words=settings.min_words)
        code = str(outcome.code) if outcome.code else None
        return TextModerationResult(
            verdict=ModerationVerdict(str(outcome.verdict)), reason_code=code, reason=outcome.reason()
        )

    @router.get("/assignments/{appeal_id}", response_model=AssignmentView)
    async def assignment(appeal_id: str) -> AssignmentView:
        """The decision on one appeal with its whole history (moves, versions, reasons)."""
        return await flows.assignment(appeal_id)

    @router.get("/moderation", response_model=AssignmentPage)
    async def moderation_queue(limit: Limit = 50, offset: Offset = 0) -> AssignmentPage:
        items, total = await flows.held(limit, offset)
        return AssignmentPage.of(items, total)

    @router.post("/moderation/{appeal_id}", response_model=AssignmentView)
    async def moderation_decision(
        appeal_id: str, body: ModerationDecisionIn, actor: Actor = "internal"
    ) -> AssignmentView:
        return await flows.decide_held(appeal_id, body, actor)

    @router.get("/triage", response_model=AssignmentPage)
    async def triage_queue(limit: Limit = 50, offset: Offset = 0) -> AssignmentPage:
        """The control centre's queue, oldest first: appeals every candidate refused (`triage:
        exhausted`) and raw posts not classified with confidence (`classification`, with the proposal)."""
        items, total = await triage.queue(limit, offset)
        return AssignmentPage.of(items, total)

    @router.post("/triage/{appeal_id}", response_model=AssignmentView)
    async def triage_decision(
        appeal_id: str, body: TriageDecisionIn, actor: Actor = "internal"
    ) -> AssignmentView:
        return await triage.decide(appeal_id, body, actor)

    @router.get("/clusters", response_model=ClusterPage)
    async def cluster_list(
        organization_id: str | None = None, topic: str | None = None, limit: Limit = 50, offset: Offset = 0
    ) -> ClusterPage:
        items, total = await clusters.clusters(organization_id, topic, limit, offset)
        return ClusterPage(items=items, total=total)

    @router.get("/problem-zones", response_model=ProblemZones)
    async def problem_zones() -> ProblemZones:
        return await clusters.problem_zones()

    return router
