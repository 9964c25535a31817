"""The web's poll pages, public appeals and the author's public choice, without a browser: what
each page asks the gateway (the fake records it) and shows, CSRF on every new form, the ballot
built from the form, errors in Russian. The browser path is tests/e2e/test_web_polls.py."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from starlette.datastructures import FormData

from services.web.poll_routes import ballot_answers, is_open
from services.web.poll_work_routes import draft_body, from_local_input
from tests.unit.web_fakes import FakeWorld, client_for, csrf_of, dev_sign_in

SOON = (datetime.now(UTC) + timedelta(days=3)).isoformat()
POLL = {
    "id": "p1",
    "kind": "poll",
    "title": "Скамейки на набережной",
    "description": "Где поставить скамейки?",
    "questions": [
        {
            "id": "q1",
            "text": "Где?",
            "kind": "single",
            "options": [{"id": "o1", "text": "Парк"}, {"id": "o2", "text": "Берег"}],
        },
        {
            "id": "q2",
            "text": "Что ещё?",
            "kind": "multiple",
            "options": [{"id": "o1", "text": "Урны"}, {"id": "o2", "text": "Свет"}],
        },
        {"id": "q3", "text": "Ваше мнение", "kind": "opinion", "options": []},
    ],
    "area_ids": ["demograd"],
    "organization_id": "city-admin",
    "opens_at": "2026-01-01T00:00:00Z",
    "closes_at": SOON,
    "results_while_open": True,
    "revote_allowed": False,
    "status": "published",
    "created_at": "2026-01-01T00:00:00Z",
}
RESULTS = {
    "poll_id": "p1",
    "status": "published",
    "final": False,
    "ballots": 4,
    "computed_at": "2026-11-30T10:00:00Z",
    "questions": [
        {
            "question_id": "q1",
            "text": "Где?",
            "kind": "single",
            "answered": 4,
            "options": [
                {"option_id": "o1", "text": "Парк", "count": 3, "percent": 75.0},
                {"option_id": "o2", "text": "Берег", "count": 1, "percent": 25.0},
            ],
        }
    ],
}
AREAS = {
    "type": "FeatureCollection",
    "features": [{"type": "Feature", "geometry": None, "properties": {"id": "demograd", "name": "Демоград"}}],
}


class PollWorld(FakeWorld):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str, dict[str, Any], Any]] = []
        self.vote_answer: tuple[int, dict[str, Any]] = (201, {"outcome": "cast", "ballot": {}})
        self.ballot: dict[str, Any] | None = None

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/api/v1")
        body = json.loads(request.content) if request.content else None
        self.calls.append((request.method, path, dict(request.url.params), body))
        answers = {
            ("GET", "/areas"): (200, AREAS),
            ("GET", "/polls"): (200, {"items": [POLL], "total": 1}),
            ("GET", "/polls/p1"): (200, POLL),
            ("GET", "/polls/p1/results"): (200, RESULTS),
            ("GET", "/polls/p1/ballot"): (200, self.ballot)
            if self.ballot
            else (404, {"detail": "no ballot"}),
            ("POST", "/polls/p1/ballot"): self.vote_answer,
            ("GET", "/me/poll-subscription"): (200, {"area_ids": ["demograd"], "email": None, "lang": "ru"}),
            ("PUT", "/me/poll-subscription"): (200, body),
            ("GET", "/public/appeals"): (200, {"items": [], "total": 0}),
            ("GET", "/polls/drafts"): (200, {"items": [{**POLL, "status": "draft"}], "total": 1}),
            ("POST", "/polls"): (201, {**POLL, "status": "draft"}),
            ("POST", "/polls/p1/publish"): (200, POLL),
            ("POST", "/polls/p1/cancel"): (409, {"status": 409, "detail": "closed", "reason": "not_allowed"}),
            ("GET", "/polls/p1/opinions"): (200, {"items": ["Нужен свет у скамеек"], "total": 1}),
        }
        if (request.method, path) in answers:
            status, payload = answers[(request.method, path)]
            return httpx.Response(status, json=payload)
        return super().handle(request)

    def sent(self, method: str, path: str) -> list[tuple[dict[str, Any], Any]]:
        return [(params, body) for m, p, params, body in self.calls if (m, p) == (method, path)]


@pytest.fixture
def world() -> PollWorld:
    return PollWorld()


@pytest.fixture
async def web(world: PollWorld) -> AsyncIterator[httpx.AsyncClient]:
    async for client in client_for(world):
        yield client


def test_the_ballot_is_built_from_the_form_and_unanswered_questions_are_left_out() -> None:
    form = FormData([("q1", "o2"), ("q2", "o1"), ("q2", "o2"), ("q3", "  ")])
    assert ballot_answers(POLL, form) == [
        {"question_id": "q1", "option_ids": ["o2"]},
        {"question_id": "q2", "option_ids": ["o1", "o2"]},
    ]
    assert ballot_answers(POLL, FormData([("q3", "Нужен свет")])) == [
        {"question_id": "q3", "text": "Нужен свет"}
    ]
    assert is_open(POLL) and not is_open({**POLL, "status": "closed"})
    assert not is_open({**POLL, "opens_at": SOON})


def test_the_operator_form_becomes_a_draft_with_times_in_the_regions_zone() -> None:
    form = FormData(
        [
            ("title", " Площадка "),
            ("kind", "hearing"),
            ("area_ids", "demograd"),
            ("closes_at", "2026-12-10T18:00"),
            ("q0_text", "Где?"),
            ("q0_kind", "multiple"),
            ("q0_options", "Парк\r\n\r\nБерег\n"),
            ("q0_max", "1"),
            ("q1_text", ""),
            ("revote_allowed", "on"),
        ]
    )
    body = draft_body(form, 5)
    assert body["title"] == "Площадка" and body["kind"] == "hearing" and body["area_ids"] == ["demograd"]
    assert body["questions"] == [
        {"text": "Где?", "kind": "multiple", "options": ["Парк", "Берег"], "max_choices": 1}
    ]
    assert body["closes_at"] == "2026-12-10T18:00:00+03:00" and body["opens_at"] is None
    assert body["revote_allowed"] is True and body["results_while_open"] is False
    assert from_local_input("tomorrow") == "tomorrow"  # the gateway names the field


async def test_the_public_list_and_the_poll_page_show_polls_and_live_results(
    web: httpx.AsyncClient, world: PollWorld
) -> None:
    page = await web.get("/polls?area_id=demograd&status=published")
    assert page.status_code == 200 and "Скамейки на набережной" in page.text and "Демоград" in page.text
    assert world.sent("GET", "/polls")[-1][0] == {
        "area_id": "demograd",
        "status": "published",
        "limit": "20",
        "offset": "0",
    }
    await web.get("/polls?area_id=../../admin")  # not an area of the catalogue: no filter
    assert "area_id" not in world.sent("GET", "/polls")[-1][0]
    poll = await web.get("/polls/p1")
    assert poll.status_code == 200
    assert "Промежуточные итоги" in poll.text and "75.0" in poll.text and 'value="75.0"' in poll.text
    assert "Войдите, чтобы проголосовать" in poll.text and 'action="/polls/p1/vote"' not in poll.text
    assert (await web.get("/polls/..%2Fadmin")).status_code == 404


async def test_a_citizen_votes_from_the_poll_page_once(web: httpx.AsyncClient, world: PollWorld) -> None:
    await dev_sign_in(web)
    page = await web.get("/polls/p1")
    assert 'action="/polls/p1/vote"' in page.text
    for forged in (None, "forged"):
        data = {"q1": "o1", **({"csrf_token": forged} if forged else {})}
        assert (await web.post("/polls/p1/vote", data=data)).status_code == 403
    assert world.sent("POST", "/polls/p1/ballot") == []
    voted = await web.post(
        "/polls/p1/vote", data={"csrf_token": csrf_of(page.text), "q1": "o1", "q3": "Свет!"}
    )
    assert voted.status_code == 303 and voted.headers["location"] == "/polls/p1"
    assert world.sent("POST", "/polls/p1/ballot")[-1][1] == {
        "answers": [{"question_id": "q1", "option_ids": ["o1"]}, {"question_id": "q3", "text": "Свет!"}]
    }
    world.ballot = {
        "poll_id": "p1",
        "answers": [{"question_id": "q1", "option_ids": ["o1"]}],
        "cast_at": SOON,
    }
    after = await web.get("/polls/p1")
    assert "Ваш голос учтён. Спасибо!" in after.text and "Вы проголосовали." in after.text
    assert 'action="/polls/p1/vote"' not in after.text  # this poll allows no revote

    world.ballot = None
    world.vote_answer = (409, {"status": 409, "detail": "you have voted", "reason": "already_voted"})
    refused = await web.post("/polls/p1/vote", data={"csrf_token": csrf_of(page.text), "q1": "o2"})
    assert refused.status_code == 422 and "в этом голосовании изменить голос нельзя" in refused.text
    world.vote_answer = (422, {"status": 422, "detail": "Текст содержит брань", "reason": "moderation"})
    rude = await web.post("/polls/p1/vote", data={"csrf_token": csrf_of(page.text), "q3": "..."})
    assert "Мнение не принято в таком виде: Текст содержит брань" in rude.text
    empty = await web.post("/polls/p1/vote", data={"csrf_token": csrf_of(page.text)})
    assert empty.status_code == 422 and "Ответьте хотя бы на один вопрос" in empty.text


async def test_the_cabinet_shows_open_polls_of_followed_areas_and_changes_the_opt_in(
    web: httpx.AsyncClient, world: PollWorld
) -> None:
    assert (await web.get("/me/polls")).status_code == 303  # sign in first
    await dev_sign_in(web)
    page = await web.get("/me/polls")
    assert page.status_code == 200 and "Скамейки на набережной" in page.text
    assert world.sent("GET", "/polls")[-1][0]["area_id"] == "demograd"
    assert (await web.post("/me/polls", data={"area_ids": "demograd"})).status_code == 403
    saved = await web.post(
        "/me/polls", data={"csrf_token": csrf_of(page.text), "area_ids": "demograd", "email": "a@example.org"}
    )
    assert saved.status_code == 303
    assert world.sent("PUT", "/me/poll-subscription")[-1][1] == {
        "area_ids": ["demograd"],
        "email": "a@example.org",
        "lang": "ru",
    }
    await web.post("/me/polls", data={"csrf_token": csrf_of(page.text)})
    assert world.sent("PUT", "/me/poll-subscription")[-1][1]["area_ids"] == []


async def test_the_public_appeals_page_passes_its_filters_to_the_gateway(
    web: httpx.AsyncClient, world: PollWorld
) -> None:
    page = await web.get(
        "/public-appeals?area_id=demograd&topic=roads.potholes&status=answered&start=2026-11-01&end=2026-11-30"
    )
    assert page.status_code == 200 and "Публичные обращения" in page.text
    assert world.sent("GET", "/public/appeals")[-1][0] == {
        "area_id": "demograd",
        "topic": "roads.potholes",
        "status": "answered",
        "from": "2026-11-01T00:00:00+03:00",
        "to": "2026-12-01T00:00:00+03:00",  # the last day is included
        "limit": "20",
        "offset": "0",
    }
    await web.get("/public-appeals?status=received&topic=nope&start=yesterday")
    assert world.sent("GET", "/public/appeals")[-1][0] == {"limit": "20", "offset": "0"}


async def test_the_operator_drafts_publishes_and_sees_refusals_of_the_lifecycle(
    web: httpx.AsyncClient, world: PollWorld
) -> None:
    await dev_sign_in(web, "operator-city")
    listing = await web.get("/work/polls")
    assert listing.status_code == 200 and "Черновик" in listing.text
    form = await web.get("/work/polls/new")
    assert form.status_code == 200 and 'name="q4_text"' in form.text  # five question blocks
    data = {
        "title": "Скамейки",
        "area_ids": "demograd",
        "closes_at": "2026-12-10T18:00",
        "q0_text": "Где?",
        "q0_options": "Парк\nБерег",
        "slots": "5",
    }
    assert (await web.post("/work/polls/new", data=data)).status_code == 403  # no CSRF token
    saved = await web.post("/work/polls/new", data={**data, "csrf_token": csrf_of(form.text)})
    assert saved.status_code == 303 and saved.headers["location"] == "/work/polls/p1"
    sent = world.sent("POST", "/polls")[-1][1]
    assert sent["questions"] == [{"text": "Где?", "kind": "single", "options": ["Парк", "Берег"]}]
    assert sent["closes_at"] == "2026-12-10T18:00:00+03:00"
    card = await web.get("/work/polls/p1")
    assert "Нужен свет у скамеек" in card.text and "Бюллетеней: 4" in card.text
    published = await web.post("/work/polls/p1/publish", data={"csrf_token": csrf_of(card.text)})
    assert published.status_code == 303 and world.sent("POST", "/polls/p1/publish")
    refused = await web.post(
        "/work/polls/p1/cancel", data={"csrf_token": csrf_of(card.text)}, follow_redirects=True
    )
    assert "В текущем состоянии голосования это невозможно" in refused.text
    assert (
        await web.post("/work/polls/p1/delete", data={"csrf_token": csrf_of(card.text)})
    ).status_code == 404
