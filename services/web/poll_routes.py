"""Polls and public hearings in the web (issue #16): the public list by area, a poll's page with its
questions and results (live when the poll allows it, final once closed), the citizen's vote and
opinions from that page, and the citizen's "polls of my area" (the open polls of the areas they
follow, and the opt-in to poll notifications for those areas).

Everything comes from the gateway's public polls API (`/api/v1/polls…`, `/api/v1/me/poll-subscription`);
the gateway decides who may vote and who may see results, the pages only show what it answers.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from services.web.gateway import GatewayError
from services.web.i18n import N_
from services.web.pages import checked_form, gateway_of, redirect, render, require_person, session_of
from services.web.texts import parse_time

PollId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")]
AreaParam = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
PAGE = 20
VOTE_MESSAGES = {
    "cast": N_("Your vote is counted. Thank you!"),
    "replaced": N_("Your vote is changed"),
    "unchanged": N_("Your vote was already counted: nothing changed"),
}
VOTE_ERRORS = {
    "already_voted": N_("You have already voted: this poll does not allow changing the vote"),
    "not_open": N_("The poll is not open for voting now"),
    "moderation": N_("Your opinion was not accepted as written: %(reason)s"),
}


async def areas_of(request: Request) -> list[dict[str, str]]:
    """The municipalities of the catalogue, [{id, name}] by name (the gateway's public `/areas`)."""
    try:
        collection = await gateway_of(request).cached("/areas")
    except GatewayError:
        return []
    found = []
    for feature in (collection or {}).get("features", []):
        props = feature.get("properties") or {}
        area_id = props.get("id") or feature.get("id")
        if area_id:
            found.append({"id": str(area_id), "name": str(props.get("name") or area_id)})
    return sorted(found, key=lambda a: a["name"])


def is_open(poll: dict[str, Any], now: datetime | None = None) -> bool:
    """Published, and now within [opens_at, closes_at): the gateway still has the last word."""
    now = now or datetime.now(UTC)
    if poll.get("status") != "published":
        return False
    opens = parse_time(poll["opens_at"]) if poll.get("opens_at") else None
    return (opens is None or opens <= now) and now < parse_time(poll["closes_at"])


def ballot_answers(poll: dict[str, Any], form: Any) -> list[dict[str, Any]]:
    """The gateway's ballot `answers` from the form: field `<question id>` holds the chosen option
    id(s) (radio / checkboxes) or the opinion's text. Unanswered questions are left out."""
    answers: list[dict[str, Any]] = []
    for question in poll.get("questions", []):
        qid = question["id"]
        if question.get("kind") == "opinion":
            text = str(form.get(qid) or "").strip()
            if text:
                answers.append({"question_id": qid, "text": text})
            continue
        chosen = [str(v) for v in form.getlist(qid) if str(v).strip()]
        if chosen:
            answers.append({"question_id": qid, "option_ids": chosen})
    return answers


def chosen_of(ballot: dict[str, Any] | None) -> dict[str, Any]:
    """{question id: set of option ids or the text} of the person's own ballot (to pre-fill the form)."""
    chosen: dict[str, Any] = {}
    for answer in (ballot or {}).get("answers", []):
        chosen[answer["question_id"]] = answer.get("text") or set(answer.get("option_ids") or [])
    return chosen


async def _optional(call: Any, *missing: int) -> Any:
    """The answer, or None when the gateway says one of `missing` (e.g. 404 no ballot, 409 results
    not public yet)."""
    try:
        return await call
    except GatewayError as exc:
        if exc.status in missing:
            return None
        raise


def poll_router() -> APIRouter:
    """Polls' pages for citizens. A correctable refusal (409/422/429) is shown on the page; other
    GatewayErrors are re-raised for the app's error page."""
    router = APIRouter(tags=["polls"])

    async def poll_context(request: Request, poll_id: str) -> dict[str, Any]:
        session = session_of(request)
        gateway = gateway_of(request)
        poll = await gateway.call("GET", f"/polls/{poll_id}", session.token)
        citizen = session.signed_in and session.role == "citizen"

        async def own_ballot() -> Any:
            if not (citizen and poll["status"] == "published"):
                return None  # ballots are unlinked from voters once a poll closes
            return await _optional(gateway.call("GET", f"/polls/{poll_id}/ballot", session.token), 404)

        results, ballot, areas = await asyncio.gather(
            _optional(gateway.call("GET", f"/polls/{poll_id}/results", session.token), 409),
            own_ballot(),
            areas_of(request),
        )
        names = {a["id"]: a["name"] for a in areas}
        can_vote = citizen and is_open(poll) and (ballot is None or poll.get("revote_allowed"))
        return {
            "poll": poll,
            "results": results,
            "ballot": ballot,
            "chosen": chosen_of(ballot),
            "open": is_open(poll),
            "can_vote": can_vote,
            "area_names": [names.get(a, a) for a in poll.get("area_ids", [])],
        }

    @router.get("/polls")
    async def polls_list(
        request: Request, area_id: str | None = None, status: str | None = None, offset: int = 0
    ) -> Response:
        """Published (open) and closed polls and hearings, newest first; by area and status."""
        areas = await areas_of(request)
        known = {a["id"] for a in areas}
        area = area_id if area_id in known else None
        state = status if status in ("published", "closed") else None
        params = {"area_id": area, "status": state, "limit": PAGE, "offset": max(offset, 0)}
        page = await gateway_of(request).call("GET", "/polls", session_of(request).token, params=params)
        names = {a["id"]: a["name"] for a in areas}
        return render(
            request,
            "polls.html",
            page=page,
            areas=areas,
            names=names,
            area_id=area or "",
            status=state or "",
            offset=max(offset, 0),
            page_size=PAGE,
            is_open=is_open,
        )

    @router.get("/polls/{poll_id}")
    async def poll_page(request: Request, poll_id: PollId) -> Response:
        return render(request, "poll.html", **await poll_context(request, poll_id))

    @router.post("/polls/{poll_id}/vote")
    async def vote(request: Request, poll_id: PollId) -> Response:
        """The citizen's ballot from the poll page (a new vote, or a changed one if allowed).

        A 409, 422 or 429 is shown on the poll page; other gateway errors are re-raised."""
        session = require_person(request, "citizen")
        form = await checked_form(request)
        gateway = gateway_of(request)
        poll = await gateway.call("GET", f"/polls/{poll_id}", session.token)
        answers = ballot_answers(poll, form)
        error: tuple[str, str] | None = None
        if not answers:
            error = N_("Answer at least one question"), ""
        else:
            try:
                result = await gateway.call(
                    "POST", f"/polls/{poll_id}/ballot", session.token, json={"answers": answers}
                )
            except GatewayError as exc:
                if exc.status not in (409, 422, 429):
                    raise
                error = vote_error(exc)
            else:
                return redirect(f"/polls/{poll_id}", VOTE_MESSAGES[result["outcome"]], request)
        context = await poll_context(request, poll_id)
        context["chosen"] = {a["question_id"]: a.get("text") or set(a.get("option_ids", [])) for a in answers}
        return render(request, "poll.html", 422, vote_error=error[0], vote_reason=error[1], **context)

    @router.get("/me/polls")
    async def my_area(request: Request) -> Response:
        """The citizen's cabinet for polls: the areas followed, their open polls, the opt-in."""
        session = require_person(request, "citizen")
        gateway = gateway_of(request)
        subscription, areas = await asyncio.gather(
            gateway.call("GET", "/me/poll-subscription", session.token), areas_of(request)
        )
        followed = list(subscription.get("area_ids") or [])
        pages = await asyncio.gather(
            *(
                gateway.call("GET", "/polls", params={"area_id": a, "status": "published", "limit": 50})
                for a in followed
            )
        )
        polls: dict[str, dict[str, Any]] = {}
        for page in pages:
            for poll in page.get("items", []):
                if is_open(poll):
                    polls.setdefault(poll["id"], poll)
        names = {a["id"]: a["name"] for a in areas}
        return render(
            request,
            "my_polls.html",
            areas=areas,
            names=names,
            followed=followed,
            email=subscription.get("email") or "",
            polls=sorted(polls.values(), key=lambda p: p["closes_at"]),
        )

    @router.post("/me/polls")
    async def follow(request: Request) -> Response:
        """Opt in (or out) of poll notifications for areas: the ticked ones are followed.

        A 422 or 429 is told in the redirect's message; other gateway errors are re-raised."""
        session = require_person(request, "citizen")
        form = await checked_form(request)
        area_ids = [str(a) for a in form.getlist("area_ids") if str(a).strip()][:50]
        email = str(form.get("email") or "").strip() or None
        body = {"area_ids": area_ids, "email": email, "lang": "ru"}
        try:
            await gateway_of(request).call("PUT", "/me/poll-subscription", session.token, json=body)
        except GatewayError as exc:
            if exc.status not in (422, 429):
                raise
            message = (
                N_("Check the e-mail address") if exc.status == 422 else N_("Too many changes: wait a minute")
            )
            return redirect("/me/polls", message, request)
        message = (
            N_("You will be told of new polls of these areas")
            if area_ids
            else N_("Poll notifications are off")
        )
        return redirect("/me/polls", message, request)

    return router


def vote_error(exc: GatewayError) -> tuple[str, str]:
    """The gateway's refusal of a ballot as (a message id of the catalogue, the reason to insert):
    the problem's `reason` decides (already voted, not open, moderation)."""
    if exc.status == 429:
        return N_("Too many changes: wait a minute"), ""
    if exc.reason == "moderation":
        return VOTE_ERRORS["moderation"], exc.detail
    if exc.reason == "already_voted":
        return VOTE_ERRORS["already_voted"], ""
    if exc.status == 409:
        return VOTE_ERRORS["not_open"], ""
    return N_("Check your answers"), ""
