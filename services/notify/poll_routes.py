"""Internal HTTP for residents' poll subscriptions ("polls for my area"); the gateway decides who."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from libs.common.contracts.notify import PollSubscription
from libs.common.http import internal_auth
from services.notify.polls import PollNotices

UserId = Annotated[str, Path(min_length=1, max_length=256)]


def poll_router(notices: PollNotices, internal_token: str) -> APIRouter:
    router = APIRouter(prefix="/internal", tags=["internal"], dependencies=[internal_auth(internal_token)])

    @router.get("/poll-subscriptions/{user_id}", response_model=PollSubscription)
    async def subscription(user_id: UserId) -> Any:
        return await notices.subscription(user_id)

    @router.put("/poll-subscriptions/{user_id}", response_model=PollSubscription)
    async def subscribe(user_id: UserId, body: PollSubscription) -> Any:
        return await notices.subscribe(user_id, body.area_ids, body.email, body.lang)

    return router
