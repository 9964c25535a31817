"""The public API under /api/v1: parse, call a flow, shape the answer."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Header, Query, Response

from libs.common.asyncapi import ASYNCAPI_SCHEMA, YAML_MEDIA_TYPE, YamlResponse, served_document
from libs.common.auth import Role, issue_dev_token
from libs.common.http import Id, Offset, Problem
from libs.common.logging import current_correlation_id
from libs.common.openapi import problem_responses
from services.intake.flows import AppealFlows
from services.intake.ratelimit import RateLimit
from services.intake.schemas import (
    AppealCreate,
    AppealCreated,
    AppealPage,
    AppealSummary,
    AppealView,
    DevToken,
    DevTokenRequest,
    QueueFilter,
)
from services.intake.security import CurrentPrincipal, require_role
from services.intake.settings import IntakeSettings
from services.intake.upstream import Upstream
from services.intake.views import appeal_view


def appeals_router(flows: AppealFlows, limiter: RateLimit) -> APIRouter:
    router = APIRouter(prefix="/api/v1/appeals", tags=["appeals"])

    @router.post("", status_code=201, response_model=AppealCreated)
    async def submit(
        body: AppealCreate,
        principal: CurrentPrincipal,
        response: Response,
        idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    ) -> AppealCreated:
        require_role(principal, Role.CITIZEN)
        await limiter.check(principal.sub)
        appeal, created = await flows.submit(principal, body, idempotency_key, current_correlation_id())
        if not created:
            response.headers["Idempotent-Replayed"] = "true"
        return AppealCreated(id=appeal["_id"], number=appeal["number"], status=appeal["status"])

    @router.get("", response_model=AppealPage)
    async def list_appeals(
        principal: CurrentPrincipal,
        filters: Annotated[QueueFilter, Query()],
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        offset: Offset = 0,
    ) -> AppealPage:
        """A citizen's own appeals, newest first; an operator's organisation queue, soonest due first."""
        require_role(principal, Role.CITIZEN, Role.OPERATOR, Role.ADMIN)
        items, total = await flows.page(principal, filters, limit, offset)
        summaries = [AppealSummary.model_validate({**item, "id": item["_id"]}) for item in items]
        return AppealPage(items=summaries, total=total, limit=limit, offset=offset)

    @router.get("/{appeal_id}", response_model=AppealView)
    async def get_appeal(appeal_id: Id, principal: CurrentPrincipal) -> AppealView:
        require_role(principal, Role.CITIZEN, Role.OPERATOR, Role.ADMIN)
        return appeal_view(await flows.visible(principal, appeal_id), principal)

    return router


def public_router(upstream: Upstream, settings: IntakeSettings) -> APIRouter:
    """Its event catalogue route answers Problem 404 when the AsyncAPI document is not installed."""
    router = APIRouter(prefix="/api/v1", tags=["catalogue", "me"])

    @router.get(
        "/events/asyncapi.yaml",
        response_class=YamlResponse,
        tags=["events"],
        responses={
            200: {"content": {YAML_MEDIA_TYPE: {"schema": ASYNCAPI_SCHEMA}}},
            **problem_responses(404),
        },
    )
    async def event_catalogue() -> YamlResponse:
        """The AsyncAPI 3.0 document of the domain events, naming this deployment's exchange and
        queues: subscribe by binding your own queue.

        404 when the document is not installed with this gateway."""
        try:
            document = await asyncio.to_thread(served_document, settings.asyncapi_path, settings.namespace)
        except (OSError, yaml.YAMLError) as exc:
            raise Problem(404, "the event catalogue is not installed with this gateway") from exc
        return YamlResponse(document)

    @router.get("/topics")
    async def topics() -> list[dict[str, Any]]:
        """The topics catalogue: code, name, category and answer deadline in calendar days."""
        return await upstream.topics()

    return router


def dev_router(settings: IntakeSettings) -> APIRouter:
    """Mounted only in dev mode: tokens for any role, so a person can try every side of the API.

    Answers Problem 422 for an operator token without `org_id`."""
    router = APIRouter(prefix="/api/v1/dev", tags=["dev"])

    @router.post("/tokens", response_model=DevToken)
    async def dev_token(body: DevTokenRequest) -> DevToken:
        """A signed bearer token for any subject and role (dev mode only). 422 for an operator
        without `org_id`."""
        if body.role is Role.OPERATOR and not body.org_id:
            raise Problem(422, "an operator token needs org_id")
        key = settings.signing_key
        assert key is not None  # the router exists only in dev mode
        return DevToken(access_token=issue_dev_token(key, sub=body.sub, role=body.role, org_id=body.org_id))

    return router
