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

    @router.get("/appeals/{appeal_id}")
    async def card(request: Request, appeal_id: str) -> Response:
        session = require_person(request, "operator")
        appeal = await gateway_of(request).call("GET", f"/appeals/{appeal_id}", session.token)
        return render(
            request, "work_appeal.html", appeal=appeal, topic_name=await topic_name(request, appeal["topic"])
        )

    @router.post("/appeals/{appeal_id}/{action}")
    async def act(request: Request, appeal_id: str, action: str) -> Response:
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
