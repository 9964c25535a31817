"""Monitoring connectors («Инцидент Менеджмент»): social-network posts become appeals."""

from __future__ import annotations

from fastapi import APIRouter, Response

from libs.common.auth import Role
from libs.common.events import SourcePost
from libs.common.http import Problem
from libs.common.logging import current_correlation_id
from services.intake.flows import AppealFlows
from services.intake.ratelimit import RateLimit, WriteKind
from services.intake.schemas import AppealCreated, IncidentIn
from services.intake.security import CurrentPrincipal, require_role
from services.intake.service import canonical_post_url, idempotency_scope, summarize


def incident_router(flows: AppealFlows, limiter: RateLimit) -> APIRouter:
    """/api/v1/incidents for monitoring connectors. Answers Problem 403 for other roles, 409 for a
    post another connector already reported, 422 for an unknown topic, 429 over the incident rate
    limit."""
    router = APIRouter(prefix="/api/v1/incidents", tags=["monitoring"])

    @router.post(
        "",
        status_code=201,
        response_model=AppealCreated,
        responses={200: {"model": AppealCreated, "description": "this post is already an appeal"}},
    )
    async def report_incident(
        body: IncidentIn, principal: CurrentPrincipal, response: Response
    ) -> AppealCreated:
        """A post found in a social network becomes an appeal on channel `social`, routed like any
        other, with a first-response deadline in hours. Without a topic, routing classifies the post
        (keywords, gazetteer); an uncertain one waits for the regional control centre. The same
        post sent again is the same appeal.

        409 when another monitoring connector already reported this post."""
        require_role(principal, Role.MONITOR)
        await limiter.check(principal.sub, WriteKind.INCIDENT)
        post_url = canonical_post_url(str(body.post_url))
        scope = idempotency_scope("incident", body.network.lower(), post_url)
        existing = await flows.replay(scope, scope)
        if existing is not None and existing.get("author_id") != principal.sub:
            # A connector sees only its own incidents: not even the id of another's.
            raise Problem(409, "this post was already reported by another monitoring connector")
        if existing is None:
            if body.topic is not None:
                await flows.check_topic(body.topic)
            post = SourcePost(
                network=body.network.lower(),
                url=post_url,
                author_handle=body.author_handle,
                found_at=body.found_at,
            )
            request = {
                "kind": "complaint",
                "channel": "social",
                "topic": body.topic or "",  # none: routing classifies the post
                "summary": summarize(body.text),
                "description": body.text,
                "location": body.location.model_dump(mode="json") if body.location else {},
                "media_ids": [],
                "contact": {"email": None},
                "lang": "ru",
            }
            existing, _ = await flows.store_new(
                principal, request, current_correlation_id(), scope=scope, fingerprint=scope, source_post=post
            )
        else:
            response.status_code = 200
            response.headers["Idempotent-Replayed"] = "true"
        return AppealCreated(id=existing["_id"], number=existing["number"], status=existing["status"])

    return router
