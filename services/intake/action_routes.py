"""Lifecycle actions on one appeal: citizens comment, rate and escalate, and change their public
choice; operators work it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from libs.common.auth import Role
from libs.common.http import Id
from libs.common.logging import current_correlation_id
from services.intake import steps
from services.intake.actions import AppealWriter
from services.intake.flows import AppealFlows
from services.intake.public_routes import Publication, publication
from services.intake.ratelimit import RateLimit, WriteKind
from services.intake.schemas import (
    AnswerIn,
    AppealView,
    ClarificationIn,
    CommentIn,
    ExtendIn,
    FirstResponseIn,
    PublicationIn,
    RatingIn,
    ReasonIn,
)
from services.intake.security import CurrentPrincipal
from services.intake.views import appeal_view

CITIZEN = (Role.CITIZEN,)
OPERATOR = (Role.OPERATOR,)
PEOPLE = (Role.CITIZEN, Role.OPERATOR)

CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "not allowed in the current status (names it and the allowed actions)"}
}


def action_router(writer: AppealWriter, flows: AppealFlows, limiter: RateLimit) -> APIRouter:
    """Every action counts against the caller's per-minute allowance (comments their own, 429)."""

    async def count_action(principal: CurrentPrincipal) -> None:
        await limiter.check(principal.sub, WriteKind.ACTION)

    async def count_comment(principal: CurrentPrincipal) -> None:
        await limiter.check(principal.sub, WriteKind.COMMENT)

    router = APIRouter(prefix="/api/v1/appeals/{appeal_id}", tags=["lifecycle"], responses=CONFLICT)

    @router.post("/take", response_model=AppealView, dependencies=[Depends(count_action)])
    async def take(appeal_id: Id, principal: CurrentPrincipal) -> AppealView:
        """Operator: start working on the appeal (routed or back for re-review → in_work)."""
        plan = steps.take(principal)
        return appeal_view(
            await writer.act(principal, appeal_id, OPERATOR, plan, current_correlation_id()), principal
        )

    @router.post("/first-response", response_model=AppealView, dependencies=[Depends(count_action)])
    async def first_response(appeal_id: Id, body: FirstResponseIn, principal: CurrentPrincipal) -> AppealView:
        """Operator: the organisation's first public reply to a social-media incident, once, before
        the answer; due within the topic's first-response SLA; the connector posts it in the thread."""
        plan = steps.first_response(principal, body.text)
        return appeal_view(
            await writer.act(principal, appeal_id, OPERATOR, plan, current_correlation_id()), principal
        )

    @router.post("/clarification-request", response_model=AppealView, dependencies=[Depends(count_action)])
    async def clarification_request(
        appeal_id: Id, body: ClarificationIn, principal: CurrentPrincipal
    ) -> AppealView:
        """Operator: ask the citizen a question; the answer deadline pauses until they reply."""
        plan = steps.request_clarification(principal, body.question)
        return appeal_view(
            await writer.act(principal, appeal_id, OPERATOR, plan, current_correlation_id()), principal
        )

    @router.post("/answer", response_model=AppealView, dependencies=[Depends(count_action)])
    async def answer(appeal_id: Id, body: AnswerIn, principal: CurrentPrincipal) -> AppealView:
        """Operator: the organisation's answer, with optional documents uploaded by the operator."""
        await flows.check_media(principal, body.media_ids)
        plan = steps.answer(principal, body.text, body.media_ids, body.public)
        return appeal_view(
            await writer.act(principal, appeal_id, OPERATOR, plan, current_correlation_id()), principal
        )

    @router.post("/reassign", response_model=AppealView, dependencies=[Depends(count_action)])
    async def reassign(appeal_id: Id, body: ReasonIn, principal: CurrentPrincipal) -> AppealView:
        """Operator: "not ours" — back to routing, which picks another organisation."""
        plan = steps.reassign(principal, body.reason)
        return appeal_view(
            await writer.act(principal, appeal_id, OPERATOR, plan, current_correlation_id()), principal
        )

    @router.post("/extend", response_model=AppealView, dependencies=[Depends(count_action)])
    async def extend(appeal_id: Id, body: ExtendIn, principal: CurrentPrincipal) -> AppealView:
        """Operator: ask for more days, with a reason (the deadlines service bounds and audits it)."""
        plan = steps.extend(principal, body.days, body.reason)
        return appeal_view(
            await writer.act(principal, appeal_id, OPERATOR, plan, current_correlation_id()), principal
        )

    @router.post("/comments", response_model=AppealView, dependencies=[Depends(count_comment)])
    async def add_comment(appeal_id: Id, body: CommentIn, principal: CurrentPrincipal) -> AppealView:
        """A comment. The author's comment answers a clarification request and resumes the work."""
        plan = steps.comment(principal, body.text)
        return appeal_view(
            await writer.act(principal, appeal_id, PEOPLE, plan, current_correlation_id()), principal
        )

    @router.post("/rating", response_model=AppealView, dependencies=[Depends(count_action)])
    async def rating(appeal_id: Id, body: RatingIn, principal: CurrentPrincipal) -> AppealView:
        """Citizen: rate the answer 1–5, once per answer. 1 or 2 sends it back for re-review."""
        plan = steps.rate(body.score)
        return appeal_view(
            await writer.act(principal, appeal_id, CITIZEN, plan, current_correlation_id()), principal
        )

    @router.post("/escalate", response_model=AppealView, dependencies=[Depends(count_action)])
    async def escalate(appeal_id: Id, principal: CurrentPrincipal) -> AppealView:
        """Citizen: take the appeal to the parent organisation, after an answer or once overdue."""
        plan = steps.request_escalation()
        return appeal_view(
            await writer.act(principal, appeal_id, CITIZEN, plan, current_correlation_id()), principal
        )

    @router.put("/publication", response_model=Publication, dependencies=[Depends(count_action)])
    async def set_publication(appeal_id: Id, body: PublicationIn, principal: CurrentPrincipal) -> Publication:
        """The author only: make the appeal public (masked, on the public list and in Open311 once
        past moderation) or private again, in any status. The timeline records each change
        (`make_public` / `make_private`); the same choice again changes nothing. Others: 403 (not
        a citizen) or 404 (not their appeal)."""
        plan = steps.publication(body.public)
        return publication(await writer.act(principal, appeal_id, CITIZEN, plan, current_correlation_id()))

    return router
