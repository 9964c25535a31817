"""Authorization matrix: every endpoint × every role × own / foreign object."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from libs.common.auth import Role
from tests.integration.gateway_harness import Gateway, running_gateway

pytestmark = pytest.mark.integration

# (method, path template, json body). {id} is an appeal routed to "roads", authored by "author".
ENDPOINTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/api/v1/appeals/{id}", None),
    ("POST", "/api/v1/appeals/{id}/comments", {"text": "Комментарий"}),
    ("POST", "/api/v1/appeals/{id}/rating", {"score": 4}),
    ("POST", "/api/v1/appeals/{id}/escalate", None),
    ("POST", "/api/v1/appeals/{id}/take", None),
    ("POST", "/api/v1/appeals/{id}/clarification-request", {"question": "Уточните адрес"}),
    ("POST", "/api/v1/appeals/{id}/answer", {"text": "Ответ организации"}),
    ("POST", "/api/v1/appeals/{id}/reassign", {"reason": "Не наш вопрос"}),
    ("POST", "/api/v1/appeals/{id}/extend", {"days": 5, "reason": "Нужна экспертиза"}),
    ("PUT", "/api/v1/appeals/{id}/publication", {"public": True}),
]
CITIZEN_ACTIONS = {"comments", "rating", "escalate", "publication"}
OPERATOR_ACTIONS = {"take", "clarification-request", "answer", "reassign", "extend", "comments"}


@dataclass(frozen=True)
class Caller:
    name: str
    role: Role | None
    sub: str = ""
    org_id: str | None = None
    owns: bool = False  # the author, or an operator of the assigned organisation


CALLERS = [
    Caller("anonymous", None),
    Caller("author", Role.CITIZEN, "author", owns=True),
    Caller("other citizen", Role.CITIZEN, "stranger"),
    Caller("operator of the org", Role.OPERATOR, "op-roads", "roads", owns=True),
    Caller("operator of another org", Role.OPERATOR, "op-city", "city"),
    Caller("admin", Role.ADMIN, "admin-1"),
    Caller("monitor", Role.MONITOR, "connector-1"),
]


def expected(caller: Caller, method: str, path: str) -> set[int]:
    """401 anonymous, 403 wrong role, 404 someone else's appeal; otherwise the rules decide."""
    if caller.role is None:
        return {401}
    action = path.rsplit("/", 1)[-1]
    if method == "GET":
        if caller.role is Role.MONITOR:
            return {403}
        if caller.role is Role.ADMIN or caller.owns:
            return {200}
        return {404}
    allowed_roles = set()
    if action in CITIZEN_ACTIONS:
        allowed_roles.add(Role.CITIZEN)
    if action in OPERATOR_ACTIONS:
        allowed_roles.add(Role.OPERATOR)
    if caller.role not in allowed_roles:
        return {403}
    if not caller.owns:
        return {404}
    return {200, 409}  # may they? yes. Is it legal in this status? the lifecycle decides


@pytest.fixture
async def gw(rabbit_url: str, namespace: str) -> AsyncIterator[Gateway]:
    async with running_gateway(rabbit_url, namespace, submit_rate_per_minute=1000) as gateway:
        yield gateway


async def test_authorization_matrix(gw: Gateway) -> None:
    failures = []
    for method, template, body in ENDPOINTS:
        for caller in CALLERS:
            # A fresh routed appeal for every cell, so earlier calls cannot change the outcome.
            appeal = await gw.submit(gw.token("author"))
            await gw.route(appeal)
            headers = gw.token(caller.sub, caller.role, caller.org_id) if caller.role else {}
            path = template.format(id=appeal["id"])
            response = await gw.client.request(method, path, headers=headers, json=body)
            want = expected(caller, method, template)
            if response.status_code not in want:
                failures.append(f"{caller.name} {method} {template}: {response.status_code}, want {want}")
            elif response.status_code >= 400:
                assert response.headers["content-type"] == "application/problem+json"
            if response.status_code == 200 and method == "GET":
                contact = response.json()["contact"]
                shows_contact = contact is not None and contact.get("email") == "resident@example.org"
                if shows_contact != caller.owns:
                    failures.append(f"{caller.name} sees contact data: {shows_contact}")
    assert failures == []


async def test_lists_show_only_what_is_yours(gw: Gateway) -> None:
    mine = await gw.submit(gw.token("author"))
    theirs = await gw.submit(gw.token("stranger"))
    await gw.route(mine, org="roads")
    await gw.route(theirs, org="city")

    async def ids(caller: Caller) -> set[str]:
        response = await gw.client.get(
            "/api/v1/appeals", headers=gw.token(caller.sub, caller.role, caller.org_id)
        )
        assert response.status_code == 200, response.text
        return {item["id"] for item in response.json()["items"]}

    assert await ids(CALLERS[1]) == {mine["id"]}
    assert await ids(CALLERS[3]) == {mine["id"]}
    assert await ids(CALLERS[4]) == {theirs["id"]}
    assert await ids(CALLERS[5]) >= {mine["id"], theirs["id"]}
    monitor = await gw.client.get("/api/v1/appeals", headers=gw.token("connector-1", Role.MONITOR))
    assert monitor.status_code == 403
    assert (await gw.client.get("/api/v1/appeals")).status_code == 401


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.ADMIN, Role.MONITOR])
async def test_only_citizens_submit_appeals(gw: Gateway, role: Role) -> None:
    response = await gw.client.post(
        "/api/v1/appeals",
        headers=gw.token("x", role, "roads" if role is Role.OPERATOR else None),
        json={
            "kind": "question",
            "topic": "roads.potholes",
            "summary": "abc",
            "description": "d",
            "location": {"address": "a"},
        },
    )
    assert response.status_code == 403


async def test_forged_and_expired_tokens_are_401(gw: Gateway) -> None:
    forged = {"Authorization": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."}
    response = await gw.client.get("/api/v1/appeals", headers=forged)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


# -- polls and public hearings (services/polls behind the gateway) ---------------------------------

# Callers of the poll matrix: the poll belongs to the organisation "city".
POLL_CALLERS = {
    "anonymous": None,
    "citizen": ("resident", Role.CITIZEN, None),
    "operator of the org": ("op-city", Role.OPERATOR, "city"),
    "operator of another org": ("op-roads", Role.OPERATOR, "roads"),
    "admin": ("admin-1", Role.ADMIN, None),
    "monitor": ("connector-1", Role.MONITOR, None),
}
ORG_ONLY = {"anonymous": 401, "citizen": 403, "operator of another org": 403, "monitor": 403}
CITIZEN_ONLY = {"anonymous": 401, "operator of the org": 403, "operator of another org": 403, "admin": 403}
CITIZEN_ONLY |= {"monitor": 403}
EVERYONE = dict.fromkeys(POLL_CALLERS, 200)
BALLOT = {"answers": [{"question_id": "q1", "option_ids": ["o1"]}]}
DRAFT_BODY = {
    "title": "Площадка",
    "questions": [{"text": "Где?", "kind": "single", "options": ["Парк", "Набережная"]}],
    "area_ids": ["demograd"],
    "closes_at": "2099-01-01T00:00:00Z",
}
# (state of a fresh poll, method, path, body, expected status per caller)
POLL_ENDPOINTS: list[tuple[str, str, str, dict[str, Any] | None, dict[str, int]]] = [
    ("published", "GET", "/api/v1/polls/{id}", None, EVERYONE),
    (
        "draft",
        "GET",
        "/api/v1/polls/{id}",
        None,
        {**dict.fromkeys(POLL_CALLERS, 404), "operator of the org": 200, "admin": 200},
    ),
    (
        "published",
        "GET",
        "/api/v1/polls/{id}/results",
        None,
        {**dict.fromkeys(POLL_CALLERS, 409), "operator of the org": 200, "admin": 200},
    ),
    (
        "draft",
        "GET",
        "/api/v1/polls/{id}/results",
        None,
        {**dict.fromkeys(POLL_CALLERS, 404), "operator of the org": 409, "admin": 409},
    ),
    ("published", "POST", "/api/v1/polls/{id}/ballot", BALLOT, {**CITIZEN_ONLY, "citizen": 201}),
    ("draft", "POST", "/api/v1/polls/{id}/ballot", BALLOT, {**CITIZEN_ONLY, "citizen": 404}),
    ("published", "GET", "/api/v1/polls/{id}/ballot", None, {**CITIZEN_ONLY, "citizen": 404}),
    (
        "published",
        "GET",
        "/api/v1/polls/{id}/opinions",
        None,
        {**ORG_ONLY, "operator of the org": 200, "admin": 200},
    ),
    (
        "draft",
        "PUT",
        "/api/v1/polls/{id}",
        DRAFT_BODY,
        {**ORG_ONLY, "operator of the org": 200, "admin": 200},
    ),
    (
        "published",
        "PUT",
        "/api/v1/polls/{id}",
        DRAFT_BODY,
        {**ORG_ONLY, "operator of the org": 409, "admin": 409},
    ),
    (
        "draft",
        "POST",
        "/api/v1/polls/{id}/publish",
        None,
        {**ORG_ONLY, "operator of the org": 200, "admin": 200},
    ),
    (
        "published",
        "POST",
        "/api/v1/polls/{id}/publish",
        None,
        {**ORG_ONLY, "operator of the org": 409, "admin": 409},
    ),
    (
        "published",
        "POST",
        "/api/v1/polls/{id}/cancel",
        None,
        {**ORG_ONLY, "operator of the org": 200, "admin": 200},
    ),
    (
        "none",
        "POST",
        "/api/v1/polls",
        DRAFT_BODY,
        {**ORG_ONLY, "operator of the org": 201, "operator of another org": 201, "admin": 422},
    ),
    ("none", "GET", "/api/v1/polls", None, EVERYONE),
    (
        "none",
        "GET",
        "/api/v1/polls/drafts",
        None,
        {**ORG_ONLY, "operator of another org": 200, "operator of the org": 200, "admin": 200},
    ),
    (
        "none",
        "PUT",
        "/api/v1/me/poll-subscription",
        {"area_ids": ["demograd"]},
        {**CITIZEN_ONLY, "citizen": 200},
    ),
    ("none", "GET", "/api/v1/me/poll-subscription", None, {**EVERYONE, "anonymous": 401}),
]


async def test_polls_authorization_matrix(rabbit_url: str, namespace: str) -> None:
    from tests.integration.polls_harness import running_polls_gateway

    failures = []
    async with running_polls_gateway(rabbit_url, namespace) as gw:
        for state, method, template, body, want in POLL_ENDPOINTS:
            for name, who in POLL_CALLERS.items():
                poll = None
                if state == "draft":
                    poll = await gw.draft("city")
                elif state == "published":
                    poll = await gw.published_poll("city")
                headers = gw.token(*who) if who else {}
                path = template.format(id=poll["id"]) if poll else template
                response = await gw.client.request(method, path, headers=headers, json=body)
                if response.status_code != want[name]:
                    failures.append(
                        f"{name} {method} {template} ({state}): {response.status_code}, want {want[name]}"
                    )
                elif response.status_code >= 400:
                    assert response.headers["content-type"] == "application/problem+json"
        # Lists: an operator's drafts are their organisation's only; the public sees no drafts.
        await gw.draft("roads")
        own = await gw.client.get("/api/v1/polls/drafts", headers=gw.operator("city"))
        assert {item["organization_id"] for item in own.json()["items"]} == {"city"}
        public = await gw.client.get("/api/v1/polls", params={"limit": 100})
        assert {item["status"] for item in public.json()["items"]} <= {"published", "closed"}
    assert failures == []


async def test_public_appeals_authorization(gw: Gateway) -> None:
    """The public list and a public appeal: anyone. What was masked (the originals): the author only."""
    appeal = await gw.submit(gw.token("author"), public=True)
    await gw.route(appeal)
    failures = []
    for caller in CALLERS:
        headers = gw.token(caller.sub, caller.role, caller.org_id) if caller.role else {}
        checks = [
            ("/api/v1/public/appeals", 200),
            (f"/api/v1/public/appeals/{appeal['number']}", 200),
            (
                f"/api/v1/appeals/{appeal['id']}/publication",
                401 if caller.role is None else 200 if caller.name == "author" else 404,
            ),
        ]
        for path, want in checks:
            response = await gw.client.get(path, headers=headers)
            if response.status_code != want:
                failures.append(f"{caller.name} GET {path}: {response.status_code}, want {want}")
    assert failures == []
