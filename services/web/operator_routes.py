"""The operator's workplace: the organisation's queue with filters and deadline colours, the
appeal card with its actions, and the organisation's SLA figures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.web.gateway import GatewayError
from services.web.i18n import N_
from services.web.pages import (
    checked_form,
    field_errors,
    gateway_of,
    redirect,
    render,
    require_person,
    topic_name,
)
from services.web.settings import WebSettings

DUE_SOON_DAYS = 3
# The card's forms → (gateway action, body built from the form, the message after it).
ACTIONS: dict[str, tuple[str, Callable[[Any], dict[str, Any] | None], str]] = {
    "take": ("take", lambda f: None, N_("Taken into work")),
    "clarification-request": (
        "clarification-request",
        lambda f: {"question": str(f.get("question") or "")},
        N_("Clarification requested"),
    ),
    "answer": ("answer", lambda f: {"text": str(f.get("text") or "")}, N_("The answer is sent")),
    "reassign": ("reassign", lambda f: {"reason": str(f.get("reason") or "")}, N_("Handed back: not ours")),
    "extend": (
        "extend",
        lambda f: {
            "days": int(str(f.get("days"))) if str(f.get("days") or "").isdigit() else 0,
            "reason": str(f.get("reason") or ""),
        },
        N_("More time requested"),
    ),
    "comment": ("comments", lambda f: {"text": str(f.get("text") or "")}, N_("Comment added")),
}


def templates_path(org_id: str | None) -> str:
    return f"/organizations/{org_id}/response-templates"


def queue_params(status: str, topic: str, overdue: str, due_soon: str, offset: int) -> dict[str, Any]:
    return {
        "status": status or None,
        "topic": topic.strip() or None,
        "overdue": "true" if overdue else None,
        "due_within_days": DUE_SOON_DAYS if due_soon else None,
        "limit": 50,
        "offset": max(offset, 0),
    }


def operator_router(settings: WebSettings) -> APIRouter:
    """The operator's work pages. A 409/422 from the gateway is shown on the page with its errors;
    other GatewayErrors are re-raised for the app's error page."""
    router = APIRouter(prefix="/work", tags=["operator"])

    @router.get("")
    async def queue(
        request: Request,
        status: str = "",
        topic: str = "",
        overdue: str = "",
        due_soon: str = "",
        offset: int = 0,
    ) -> Response:
        session = require_person(request, "operator")
        gateway = gateway_of(request)
        page = await gateway.call(
            "GET", "/appeals", session.token, params=queue_params(status, topic, overdue, due_soon, offset)
        )
        topics = await gateway.cached("/topics")
        filters = {"status": status, "topic": topic, "overdue": overdue, "due_soon": due_soon}
        template = "_queue.html" if request.headers.get("HX-Request") else "queue.html"
        names = {t["code"]: t["name"] for t in topics}
        return render(request, template, page=page, filters=filters, topics=topics, topic_names=names)

    async def templates_of(request: Request) -> list[dict[str, Any]]:
        """The organisation's saved answers; none (not an error page) if the gateway cannot say."""
        session = require_person(request, "operator")
        try:
            page = await gateway_of(request).call("GET", templates_path(session.org_id), session.token)
        except GatewayError:
            return []
        return list(page.get("items", []))

    @router.get("/appeals/{appeal_id}")
    async def card(request: Request, appeal_id: str, template: str = "") -> Response:
        session = require_person(request, "operator")
        appeal = await gateway_of(request).call("GET", f"/appeals/{appeal_id}", session.token)
        templates = await templates_of(request) if "answer" in appeal.get("allowed_actions", []) else []
        chosen = next((t for t in templates if t["id"] == template), None)
        return render(
            request,
            "work_appeal.html",
            appeal=appeal,
            topic_name=await topic_name(request, appeal["topic"]),
            templates=templates,
            chosen=template,
            values={"text": chosen["text"]} if chosen else None,
        )

    @router.get("/templates")
    async def templates_page(request: Request) -> Response:
        return render(request, "templates.html", templates=await templates_of(request))

    @router.post("/templates")
    async def add_template(request: Request) -> Response:
        """Save a new answer template of the operator's organisation; a 409 or 422 is shown on the
        page, other gateway errors are re-raised."""
        session = require_person(request, "operator")
        form = await checked_form(request)
        body = {"title": str(form.get("title") or ""), "text": str(form.get("text") or "")}
        try:
            await gateway_of(request).call("POST", templates_path(session.org_id), session.token, json=body)
        except GatewayError as exc:
            if exc.status not in (409, 422):
                raise
            found = field_errors(exc)
            errors = found or {"form": exc.detail}
            return render(
                request,
                "templates.html",
                422,
                templates=await templates_of(request),
                errors=errors,
                values=body,
            )
        return redirect("/work/templates", N_("Template saved"), request)

    @router.post("/templates/{template_id}/delete")
    async def delete_template(request: Request, template_id: str) -> Response:
        session = require_person(request, "operator")
        await checked_form(request)
        await gateway_of(request).call(
            "DELETE", f"{templates_path(session.org_id)}/{template_id}", session.token
        )
        return redirect("/work/templates", N_("Template deleted"), request)

    @router.post("/appeals/{appeal_id}/{action}")
    async def act(request: Request, appeal_id: str, action: str) -> Response:
        """An operator's action on an appeal (one of `ACTIONS`; else the 404 page). A 409 or 422 is
        shown on the appeal's page; other gateway errors are re-raised."""
        session = require_person(request, "operator")
        form = await checked_form(request)
        if action not in ACTIONS:
            return render(request, "error.html", 404, message="not_found")
        path, build, message = ACTIONS[action]
        gateway = gateway_of(request)
        try:
            await gateway.call("POST", f"/appeals/{appeal_id}/{path}", session.token, json=build(form))
        except GatewayError as exc:
            if exc.status not in (409, 422):
                raise
            if exc.status == 409:  # someone else moved the appeal on meanwhile
                exc.detail = N_("This step is not possible now: the appeal has changed. Reload the page.")
            appeal = await gateway.call("GET", f"/appeals/{appeal_id}", session.token)
            found = field_errors(exc)
            errors = {action: next(iter(found.values())) if found else exc.detail}
            return render(
                request,
                "work_appeal.html",
                422,
                appeal=appeal,
                topic_name=await topic_name(request, appeal["topic"]),
                errors=errors,
                values=dict(form),
            )
        if action == "reassign":  # no longer ours: back to the queue
            return redirect("/work", message, request)
        return redirect(f"/work/appeals/{appeal_id}", message, request)

    @router.get("/stats")
    async def stats(request: Request) -> Response:
        session = require_person(request, "operator")
        table = await gateway_of(request).call("GET", "/stats/organizations", session.token)
        return render(request, "stats.html", table=table)

    return router
