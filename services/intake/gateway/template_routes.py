"""Saved response templates per organisation: texts an operator picks to start an answer.

The gateway keeps them in its own store (collection `response_templates`), because they are the
operators' working material, not part of an appeal or of the catalogue. An operator reads and
changes their own organisation's; an admin any organisation's. At most `MAX_PER_ORGANIZATION`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from libs.common.auth import Principal, Role
from libs.common.clock import Clock
from libs.common.http import Id, Problem
from libs.common.store import Database
from services.intake.security import CurrentPrincipal, require_role

TEMPLATES = "response_templates"
MAX_PER_ORGANIZATION = 100


class TemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(min_length=1, max_length=200)
    text: str = Field(min_length=3, max_length=10000)


class TemplateView(BaseModel):
    id: str
    title: str
    text: str
    created_at: datetime


def _check_org(principal: Principal, org_id: str) -> None:
    require_role(principal, Role.OPERATOR, Role.ADMIN)
    if principal.role is Role.OPERATOR and principal.org_id != org_id:
        raise Problem(403, "an operator manages their own organisation's templates only")


def template_router(db: Database, clock: Clock) -> APIRouter:
    """Its routes answer Problem 403 for another organisation's operator, 404 for an unknown
    template and 409 above the per-organisation limit of templates."""
    router = APIRouter(
        prefix="/api/v1/organizations/{org_id}/response-templates", tags=["response templates"]
    )

    @router.get("")
    async def list_templates(org_id: Id, principal: CurrentPrincipal) -> dict[str, Any]:
        """`{"items": [{id, title, text, created_at}]}`, by title."""
        _check_org(principal, org_id)
        docs = await db[TEMPLATES].find({"org_id": org_id}).sort("title").to_list(MAX_PER_ORGANIZATION)
        return {"items": [TemplateView.model_validate({**d, "id": d["_id"]}) for d in docs]}

    @router.post("", status_code=201, response_model=TemplateView)
    async def add_template(org_id: Id, body: TemplateIn, principal: CurrentPrincipal) -> TemplateView:
        """A new template; 409 when the organisation already has `MAX_PER_ORGANIZATION`."""
        _check_org(principal, org_id)
        if await db[TEMPLATES].count_documents({"org_id": org_id}) >= MAX_PER_ORGANIZATION:
            raise Problem(409, f"at most {MAX_PER_ORGANIZATION} templates per organisation: delete one first")
        doc = {
            "_id": uuid.uuid4().hex,
            "org_id": org_id,
            **body.model_dump(),
            "created_at": clock(),
            "created_by": principal.sub,
        }
        await db[TEMPLATES].insert_one(doc)
        return TemplateView.model_validate({**doc, "id": doc["_id"]})

    @router.delete("/{template_id}", status_code=204)
    async def delete_template(org_id: Id, template_id: Id, principal: CurrentPrincipal) -> Response:
        """Delete one of the organisation's answer templates. 404 when it has no such template."""
        _check_org(principal, org_id)
        result = await db[TEMPLATES].delete_one({"_id": template_id, "org_id": org_id})
        if not result.deleted_count:
            raise Problem(404, "no such template in this organisation")
        return Response(status_code=204)

    return router
