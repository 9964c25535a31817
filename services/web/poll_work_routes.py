"""The operator's polls (issue #16): the organisation's polls and hearings (drafts included), a
draft's form (new or edited), publishing and cancelling, live results and a hearing's opinions.

The form works without script: a fixed number of question blocks (`QUESTION_SLOTS`, more when a
draft already has more), options one per line. Times are typed in the region's time zone
(`texts.DISPLAY_ZONE`) and sent with their offset. The gateway decides everything else (only the
poll's own organisation, a published poll's questions never change: docs/polls.md).
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.web.gateway import GatewayError
from services.web.i18n import N_
from services.web.pages import checked_form, field_errors, gateway_of, redirect, render, require_person
from services.web.poll_routes import PollId, areas_of
from services.web.texts import DISPLAY_ZONE, parse_time

QUESTION_SLOTS = 5
KINDS = ("single", "multiple", "opinion")
REFUSED = N_("Not possible in the poll's current status (or its closing time has passed: edit the draft)")
LIFECYCLE = {
    "publish": N_("The poll is published: residents of its areas can vote"),
    "cancel": N_("The poll is cancelled"),
}


def local_input(value: Any) -> str:
    """An API time as the value of a `datetime-local` field, in the region's time zone."""
    if not value:
        return ""
    return parse_time(value).astimezone(DISPLAY_ZONE).strftime("%Y-%m-%dT%H:%M")


def from_local_input(value: Any) -> str | None:
    """A `datetime-local` value (the region's time zone) as ISO 8601 with its offset; None if
    empty; the text as typed if it is not a time (the gateway then names the field)."""
    text = str(value or "").strip()
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).replace(tzinfo=DISPLAY_ZONE).isoformat()
    except ValueError:
        return text


def draft_body(form: Any, slots: int) -> dict[str, Any]:
    """The gateway's PollDraftIn from the form; empty question blocks are left out."""
    questions = []
    for n in range(slots):
        text = str(form.get(f"q{n}_text") or "").strip()
        if not text:
            continue
        kind = str(form.get(f"q{n}_kind") or "single")
        options = [line.strip() for line in str(form.get(f"q{n}_options") or "").splitlines() if line.strip()]
        question: dict[str, Any] = {
            "text": text,
            "kind": kind,
            "options": [] if kind == "opinion" else options,
        }
        max_choices = str(form.get(f"q{n}_max") or "").strip()
        if kind == "multiple" and max_choices.isdigit():
            question["max_choices"] = int(max_choices)
        questions.append(question)
    return {
        "kind": "hearing" if form.get("kind") == "hearing" else "poll",
        "title": str(form.get("title") or "").strip(),
        "description": str(form.get("description") or "").strip(),
        "questions": questions,
        "area_ids": [str(a) for a in form.getlist("area_ids")],
        "opens_at": from_local_input(form.get("opens_at")),
        "closes_at": from_local_input(form.get("closes_at")),
        "results_while_open": form.get("results_while_open") == "on",
        "revote_allowed": form.get("revote_allowed") == "on",
    }


def form_values(poll: dict[str, Any]) -> dict[str, Any]:
    """A poll (or a refused body) as the form's values."""
    questions = [
        {
            "text": q.get("text", ""),
            "kind": q.get("kind", "single"),
            "options": "\n".join(o["text"] if isinstance(o, dict) else str(o) for o in q.get("options", [])),
            "max": q.get("max_choices") or "",
        }
        for q in poll.get("questions", [])
    ]
    return {
        **poll,
        "questions": questions,
        "opens_at": local_input(poll.get("opens_at")) if "T" in str(poll.get("opens_at") or "") else "",
        "closes_at": local_input(poll.get("closes_at")) if "T" in str(poll.get("closes_at") or "") else "",
    }


def poll_work_router() -> APIRouter:
    """The organisation's poll pages (drafts, publish, results). A 409/422/429 from the gateway is
    shown on the form; other GatewayErrors are re-raised for the app's error page."""
    router = APIRouter(tags=["operator polls"])

    async def form_page(request: Request, status: int = 200, **context: Any) -> Response:
        values = context.pop("values", {})
        slots = max(QUESTION_SLOTS, len(values.get("questions", [])) + 2)
        return render(
            request,
            "work_poll_form.html",
            status,
            values=values,
            areas=await areas_of(request),
            slots=slots,
            kinds=KINDS,
            **context,
        )

    @router.get("/work/polls")
    async def our_polls(request: Request, offset: int = 0) -> Response:
        session = require_person(request, "operator")
        params = {"limit": 20, "offset": max(offset, 0)}
        page = await gateway_of(request).call("GET", "/polls/drafts", session.token, params=params)
        return render(request, "work_polls.html", page=page, offset=max(offset, 0))

    @router.get("/work/polls/new")
    async def new_poll(request: Request) -> Response:
        require_person(request, "operator")
        return await form_page(request, values={"idem": secrets.token_urlsafe(8)})

    @router.get("/work/polls/{poll_id}/edit")
    async def edit_poll(request: Request, poll_id: PollId) -> Response:
        session = require_person(request, "operator")
        poll = await gateway_of(request).call("GET", f"/polls/{poll_id}", session.token)
        return await form_page(request, values=form_values(poll), poll_id=poll_id)

    async def save(request: Request, poll_id: str | None) -> Response:
        """Create (`poll_id` None) or replace a draft from the form. A 409, 422 or 429 is shown on
        the form (422); other gateway errors are re-raised."""
        session = require_person(request, "operator")
        form = await checked_form(request)
        slots = int(str(form.get("slots") or QUESTION_SLOTS)) if str(form.get("slots") or "").isdigit() else 0
        body = draft_body(form, min(slots, 20) or QUESTION_SLOTS)
        method, path = ("PUT", f"/polls/{poll_id}") if poll_id else ("POST", "/polls")
        try:
            saved = await gateway_of(request).call(method, path, session.token, json=body)
        except GatewayError as exc:
            if exc.status not in (409, 422, 429):
                raise
            errors = field_errors(exc) or {"form": exc.detail}
            values = form_values({**body, "opens_at": None, "closes_at": None})
            values |= {"opens_at": form.get("opens_at") or "", "closes_at": form.get("closes_at") or ""}
            return await form_page(request, 422, values=values, errors=errors, poll_id=poll_id)
        return redirect(f"/work/polls/{saved['id']}", N_("The draft is saved"), request)

    @router.post("/work/polls/new")
    async def create(request: Request) -> Response:
        return await save(request, None)

    @router.post("/work/polls/{poll_id}/edit")
    async def update(request: Request, poll_id: PollId) -> Response:
        return await save(request, poll_id)

    @router.get("/work/polls/{poll_id}")
    async def our_poll(request: Request, poll_id: PollId) -> Response:
        """The poll as its organisation sees it: live results, a hearing's opinions, the actions."""
        session = require_person(request, "operator")
        gateway = gateway_of(request)
        poll = await gateway.call("GET", f"/polls/{poll_id}", session.token)
        results = opinions = None
        if poll["status"] in ("published", "closed"):
            results, opinions = await asyncio.gather(
                gateway.call("GET", f"/polls/{poll_id}/results", session.token),
                gateway.call("GET", f"/polls/{poll_id}/opinions", session.token, params={"limit": 50}),
            )
        names = {a["id"]: a["name"] for a in await areas_of(request)}
        return render(
            request,
            "work_poll.html",
            poll=poll,
            results=results,
            opinions=opinions,
            area_names=[names.get(a, a) for a in poll.get("area_ids", [])],
        )

    @router.post("/work/polls/{poll_id}/{action}")
    async def lifecycle(request: Request, poll_id: PollId, action: str) -> Response:
        """publish or cancel (the gateway refuses what the poll's status does not allow: 409)."""
        session = require_person(request, "operator")
        await checked_form(request)
        if action not in LIFECYCLE:
            return render(request, "error.html", 404, message="not_found")
        try:
            await gateway_of(request).call("POST", f"/polls/{poll_id}/{action}", session.token)
        except GatewayError as exc:
            if exc.status not in (409, 429):
                raise
            refused = N_("Too many changes: wait a minute") if exc.status == 429 else REFUSED
            return redirect(f"/work/polls/{poll_id}", refused, request)
        return redirect(f"/work/polls/{poll_id}", LIFECYCLE[action], request)

    return router
