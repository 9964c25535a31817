"""Polls' internal HTTP API (`/internal`, service token). The gateway authenticates, decides who
may do what to which poll, moderates opinions, and calls these. Parse, call a flow, return."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Response

from libs.common.contracts.polls import (
    AreaId,
    BallotCast,
    BallotView,
    ItemId,
    OpinionPage,
    PollCreate,
    PollDraftIn,
    PollPage,
    PollResults,
    PollStatus,
    PollView,
    VoteOutcome,
    VoteResult,
)
from libs.common.http import Offset, Problem, internal_auth
from libs.common.logging import current_correlation_id
from services.polls.flows import NotFound, PollFlows
from services.polls.service import Refused
from services.polls.settings import PollsSettings

Limit = Annotated[int, Query(ge=1, le=200)]
T = TypeVar("T")


@asynccontextmanager
async def _problems() -> AsyncIterator[None]:
    try:
        yield
    except NotFound as exc:
        raise Problem(404, str(exc)) from exc
    except Refused as exc:
        raise Problem(exc.status, exc.detail, reason=exc.reason) from exc


async def _run(call: Callable[[], Awaitable[T]]) -> T:
    async with _problems():
        return await call()


def internal_router(flows: PollFlows, settings: PollsSettings) -> APIRouter:
    guard = internal_auth(settings.internal_token.get_secret_value())
    router = APIRouter(prefix="/internal/polls", tags=["internal"], dependencies=[guard])

    @router.post("", status_code=201, response_model=PollView)
    async def create(body: PollCreate) -> PollView:
        return (await flows.create(body, current_correlation_id())).view()

    @router.get("", response_model=PollPage)
    async def page(
        status: Annotated[list[PollStatus] | None, Query()] = None,
        area_id: AreaId | None = None,
        organization_id: ItemId | None = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> PollPage:
        """Newest first; `status` repeats (default: published and closed)."""
        statuses = status or [PollStatus.PUBLISHED, PollStatus.CLOSED]
        return await flows.page(
            statuses, area_id=area_id, organization_id=organization_id, limit=limit, offset=offset
        )

    @router.get("/{poll_id}", response_model=PollView)
    async def get(poll_id: ItemId) -> PollView:
        return (await _run(lambda: flows.get(poll_id))).view()

    @router.put("/{poll_id}", response_model=PollView)
    async def edit(poll_id: ItemId, body: PollDraftIn) -> PollView:
        """A draft's content; 409 once published (its questions never change)."""
        return (await _run(lambda: flows.edit(poll_id, body))).view()

    @router.post("/{poll_id}/publish", response_model=PollView)
    async def publish(poll_id: ItemId) -> PollView:
        return (await _run(lambda: flows.publish(poll_id, current_correlation_id()))).view()

    @router.post("/{poll_id}/cancel", response_model=PollView)
    async def cancel(poll_id: ItemId) -> PollView:
        return (await _run(lambda: flows.cancel(poll_id, current_correlation_id()))).view()

    @router.post("/{poll_id}/ballots", response_model=VoteResult)
    async def vote(poll_id: ItemId, body: BallotCast, response: Response) -> VoteResult:
        """201 for a first ballot, 200 for a replaced or repeated one; 409 not open / voted."""
        result = await _run(lambda: flows.vote(poll_id, body))
        response.status_code = 201 if result.outcome is VoteOutcome.CAST else 200
        return result

    @router.get("/{poll_id}/ballots", response_model=BallotView)
    async def ballot(poll_id: ItemId, voter_id: Annotated[str, Query(min_length=1, max_length=256)]) -> Any:
        return (await _run(lambda: flows.ballot_of(poll_id, voter_id))).view()

    @router.get("/{poll_id}/results", response_model=PollResults)
    async def results(poll_id: ItemId) -> PollResults:
        """Final once closed, else live: the gateway decides who may see live results."""
        poll = await _run(lambda: flows.get(poll_id))
        return await flows.results(poll)

    @router.get("/{poll_id}/opinions", response_model=OpinionPage)
    async def opinions(poll_id: ItemId, limit: Limit = 50, offset: Offset = 0) -> OpinionPage:
        poll = await _run(lambda: flows.get(poll_id))
        return await flows.opinions(poll, limit, offset)

    return router
