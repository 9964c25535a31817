"""Internal HTTP for the gateway: a user's in-app feed. Guarded by the internal service token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from libs.common.http import Problem, internal_auth
from services.notify.flows import NotifyFlows
from services.notify.schemas import FeedPage

UserId = Annotated[str, Path(min_length=1, max_length=128)]


def router(flows: NotifyFlows, internal_token: str) -> APIRouter:
    api = APIRouter(prefix="/internal", tags=["internal"], dependencies=[internal_auth(internal_token)])

    @api.get("/feed/{user_id}", response_model=FeedPage)
    async def feed(
        user_id: UserId,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> FeedPage:
        return await flows.feed_page(user_id, limit=limit, offset=offset)

    @api.post("/feed/{user_id}/{notification_id}/read", status_code=204)
    async def mark_read(user_id: UserId, notification_id: Annotated[str, Path(max_length=64)]) -> Response:
        if not await flows.mark_read(user_id, notification_id):
            raise Problem(404, "this user has no such notification")
        return Response(status_code=204)

    return api
