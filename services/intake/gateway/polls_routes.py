"""Gateway routes for polls and public hearings (services/polls) and residents' poll subscriptions.

Who may do what (object level, decided here before polls is asked):
- drafting, editing, publishing, cancelling, reading drafts and opinions: the poll's own
  organisation's operators, or admins;
- voting and reading one's own ballot: signed-in citizens;
- published and closed polls, and their results once visible (closed, or live if the poll allows
  it): anyone, no sign-in. The organisation and admins see live results of a published poll.
Opinions (free text) go through routing's moderation (`/internal/moderate-text`) before polls
stores them. Area ids are checked against routing's catalogue.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials

from libs.common.auth import Principal, Role
from libs.common.contracts.notify import PollSubscription
from libs.common.contracts.polls import (
    AreaId,
    BallotCast,
    BallotIn,
    BallotView,
    OpinionPage,
    PollCreate,
    PollDraftIn,
    PollPage,
    PollResults,
    PollStatus,
    PollView,
    QuestionKind,
    VoteResult,
)
from libs.common.http import Id, Offset, Problem
from services.intake.gateway.clients import InternalClients
from services.intake.gateway.internal import body_of
from services.intake.ratelimit import RateLimit, WriteKind
from services.intake.security import CurrentPrincipal, _bearer, authenticate, require_role

Limit = Annotated[int, Query(ge=1, le=100)]
PUBLIC = (PollStatus.PUBLISHED, PollStatus.CLOSED)


async def optional_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal | None:
    """The caller if a bearer token is given (it must then be valid), else None."""
    return None if credentials is None else await authenticate(request, credentials)


MaybePrincipal = Annotated[Principal | None, Depends(optional_principal)]


def _of_organization(principal: Principal | None, poll: dict[str, Any]) -> bool:
    if principal is None:
        return False
    if principal.role is Role.ADMIN:
        return True
    return principal.role is Role.OPERATOR and principal.org_id == poll.get("organization_id")


def polls_router(clients: InternalClients, limiter: RateLimit | None = None) -> APIRouter:
    """/api/v1/polls/... and /api/v1/me/poll-subscription: polls answers, routing checks areas,
    organisations and opinions, notify keeps the subscriptions. Writes count as actions.

    Its routes answer Problem 403 (another organisation's poll, wrong role), 404 (unknown, or a
    draft of another organisation), 409 (results not public yet) and 422 (bad filter or
    organisation)."""

    async def count_write(principal: CurrentPrincipal) -> None:
        if limiter is not None:
            await limiter.check(principal.sub, WriteKind.ACTION)

    counted = [Depends(count_write)]
    router = APIRouter()
    api = APIRouter(prefix="/api/v1/polls", tags=["polls"])

    async def own_poll(poll_id: str, principal: Principal) -> dict[str, Any]:
        """The poll, if the caller is of its organisation (or an admin); else 404/403."""
        require_role(principal, Role.OPERATOR, Role.ADMIN)
        poll = await clients.polls.poll(poll_id)
        if not _of_organization(principal, poll):
            raise Problem(403, "this poll belongs to another organisation")
        return poll

    async def visible_poll(poll_id: str, principal: Principal | None) -> dict[str, Any]:
        """The poll if the caller may see it. Raises Problem 404 for a poll that is neither
        published/closed nor of the caller's organisation (drafts are not announced to others), and
        polls' own 404."""
        poll = await clients.polls.poll(poll_id)
        if poll.get("status") not in PUBLIC and not _of_organization(principal, poll):
            raise Problem(404, f"no poll {poll_id}")  # drafts are not announced to others
        return poll

    @api.post("", status_code=201, response_model=PollView, dependencies=counted)
    async def draft(body: PollDraftIn, principal: CurrentPrincipal) -> Any:
        """A draft poll or public hearing of the caller's organisation (an admin names one).

        403 when an operator names another organisation; 422 when an admin names none."""
        require_role(principal, Role.OPERATOR, Role.ADMIN)
        if principal.role is Role.OPERATOR:
            if body.organization_id and body.organization_id != principal.org_id:
                raise Problem(403, "an operator drafts polls of their own organisation only")
            org_id = principal.org_id
        else:
            if not body.organization_id:
                raise Problem(422, "an admin names the poll's organization_id")
            org_id = body.organization_id
            await clients.routing.check_organization(org_id)
        await clients.routing.check_areas(body.area_ids)
        create = PollCreate(
            **body.model_dump(exclude={"organization_id"}), organization_id=org_id, created_by=principal.sub
        )
        return await clients.polls.call("POST", "/polls", json=create.model_dump(mode="json"))

    @api.get("", response_model=PollPage)
    async def public_list(
        area_id: AreaId | None = None,
        organization_id: Annotated[str | None, Query(max_length=128)] = None,
        status: PollStatus | None = None,
        limit: Limit = 20,
        offset: Offset = 0,
    ) -> Any:
        """Published and closed polls, newest first (no sign-in needed).

        422 when `status` asks for anything but published or closed."""
        if status is not None and status not in PUBLIC:
            raise Problem(422, "the public list holds published and closed polls only")
        params: dict[str, Any] = {"status": [str(s) for s in ([status] if status else PUBLIC)]}
        params |= {"limit": limit, "offset": offset}
        params |= {k: v for k, v in {"area_id": area_id, "organization_id": organization_id}.items() if v}
        return await clients.polls.call("GET", "/polls", params=params)

    @api.get("/drafts", response_model=PollPage)
    async def organization_list(
        principal: CurrentPrincipal,
        organization_id: Annotated[str | None, Query(max_length=128)] = None,
        limit: Limit = 20,
        offset: Offset = 0,
    ) -> Any:
        """Every poll of the caller's organisation, drafts and cancelled ones included."""
        require_role(principal, Role.OPERATOR, Role.ADMIN)
        if principal.role is Role.OPERATOR:
            organization_id = principal.org_id
        params: dict[str, Any] = {"status": [str(s) for s in PollStatus], "limit": limit, "offset": offset}
        if organization_id:
            params["organization_id"] = organization_id
        return await clients.polls.call("GET", "/polls", params=params)

    @api.get("/{poll_id}", response_model=PollView)
    async def read(poll_id: Id, principal: MaybePrincipal) -> Any:
        return await visible_poll(poll_id, principal)

    @api.put("/{poll_id}", response_model=PollView, dependencies=counted)
    async def edit(poll_id: Id, body: PollDraftIn, principal: CurrentPrincipal) -> Any:
        """Replace a draft; 409 once published (a published poll's questions never change)."""
        poll = await own_poll(poll_id, principal)
        if body.organization_id and body.organization_id != poll["organization_id"]:
            raise Problem(422, "a poll's organisation does not change")
        await clients.routing.check_areas(body.area_ids)
        return await clients.polls.call("PUT", "/polls/{}", poll_id, json=body.model_dump(mode="json"))

    @api.post("/{poll_id}/publish", response_model=PollView, dependencies=counted)
    async def publish(poll_id: Id, principal: CurrentPrincipal) -> Any:
        """Publish a draft (one action): residents of its areas who opted in are told."""
        await own_poll(poll_id, principal)
        return await clients.polls.call("POST", "/polls/{}/publish", poll_id)

    @api.post("/{poll_id}/cancel", response_model=PollView, dependencies=counted)
    async def cancel(poll_id: Id, principal: CurrentPrincipal) -> Any:
        await own_poll(poll_id, principal)
        return await clients.polls.call("POST", "/polls/{}/cancel", poll_id)

    @api.post("/{poll_id}/ballot", response_model=VoteResult, dependencies=counted)
    async def vote(poll_id: Id, body: BallotIn, principal: CurrentPrincipal, response: Response) -> Any:
        """Vote once: 201 for the first ballot; the same ballot again is 200 (nothing changes); a
        different one replaces it only if the poll allows revoting and is open (else 409)."""
        require_role(principal, Role.CITIZEN)
        poll = await visible_poll(poll_id, principal)
        opinions = {q["id"] for q in poll.get("questions", []) if q.get("kind") == QuestionKind.OPINION}
        for answer in body.answers:
            if answer.question_id in opinions and answer.text and answer.text.strip():
                await clients.routing.moderate(answer.text)
        cast = BallotCast(answers=body.answers, voter_id=principal.sub)
        upstream = await clients.polls.request(
            "POST", "/polls/{}/ballots", poll_id, json=cast.model_dump(mode="json")
        )
        result = body_of(upstream)
        response.status_code = upstream.status_code
        return result

    @api.get("/{poll_id}/ballot", response_model=BallotView)
    async def my_ballot(poll_id: Id, principal: CurrentPrincipal) -> Any:
        """The caller's own ballot while the poll runs (ballots are unlinked from voters once closed)."""
        require_role(principal, Role.CITIZEN)
        return await clients.polls.call(
            "GET", "/polls/{}/ballots", poll_id, params={"voter_id": principal.sub}
        )

    @api.get("/{poll_id}/results", response_model=PollResults)
    async def results(poll_id: Id, principal: MaybePrincipal) -> Any:
        """Counts and percentages: public once closed (or live if the poll allows it); the
        organisation sees them live. Aggregates only, never who voted how.

        409 (reason `results_not_public`) while the results are not public yet."""
        poll = await visible_poll(poll_id, principal)
        status = poll.get("status")
        live_ok = poll.get("results_while_open") or _of_organization(principal, poll)
        if status != PollStatus.CLOSED and not (status == PollStatus.PUBLISHED and live_ok):
            raise Problem(409, "results are published when the poll closes", reason="results_not_public")
        return await clients.polls.call("GET", "/polls/{}/results", poll_id)

    @api.get("/{poll_id}/opinions", response_model=OpinionPage)
    async def opinions(
        poll_id: Id, principal: CurrentPrincipal, limit: Limit = 50, offset: Offset = 0
    ) -> Any:
        """A hearing's opinions without their authors, for the organisation (and admins)."""
        await own_poll(poll_id, principal)
        return await clients.polls.call(
            "GET", "/polls/{}/opinions", poll_id, params={"limit": limit, "offset": offset}
        )

    me = APIRouter(prefix="/api/v1/me", tags=["polls"])

    @me.get("/poll-subscription", response_model=PollSubscription)
    async def my_subscription(principal: CurrentPrincipal) -> Any:
        return await clients.notify.call("GET", "poll-subscriptions/{}", principal.sub)

    @me.put("/poll-subscription", response_model=PollSubscription, dependencies=counted)
    async def subscribe(body: PollSubscription, principal: CurrentPrincipal) -> Any:
        """ "Polls for my area": new polls and their results for these areas ([] to stop)."""
        require_role(principal, Role.CITIZEN)
        if body.area_ids:
            await clients.routing.check_areas(body.area_ids)
        return await clients.notify.call(
            "PUT", "poll-subscriptions/{}", principal.sub, json=body.model_dump(mode="json")
        )

    router.include_router(api)
    router.include_router(me)
    return router
