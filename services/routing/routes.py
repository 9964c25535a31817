from __future__ import annotations

from fastapi import APIRouter

from libs.common.http import internal_auth
from services.routing.flows import CatalogueStore
from services.routing.schemas import TopicView


def internal_router(catalogue: CatalogueStore, internal_token: str) -> APIRouter:
    router = APIRouter(prefix="/internal", tags=["internal"], dependencies=[internal_auth(internal_token)])

    @router.get("/topics", response_model=list[TopicView])
    async def topics() -> list[TopicView]:
        current = await catalogue.current()
        return [TopicView.model_validate(topic.model_dump()) for topic in current.topics]

    return router
