"""The whole lifecycle through the five real services: every decision is made by the service
that owns it (routing routes, deadlines arms and ends the rating window, notify tells people)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage

import httpx
import pytest

from devstack.mailsink import MailSink
from devstack.stack import LocalStack
from tests.e2e.conftest import bearer, start_stack
from tests.infra import eventually

pytestmark = pytest.mark.e2e

RATING_WINDOW_SECONDS = 3


@pytest.fixture(scope="module")
def short_window_stack(
    mail: MailSink, tmp_path_factory: pytest.TempPathFactory, rabbit_url: str
) -> Iterator[LocalStack]:
    stack = start_stack(
        mail, tmp_path_factory, rabbit_url, DEADLINES_RATING_WINDOW_SECONDS=str(RATING_WINDOW_SECONDS)
    )
    yield stack
    stack.stop()


@pytest.fixture(scope="module", autouse=True)
def short_sla_appeal(short_window_stack: LocalStack) -> dict:
    """Submitted when the module starts, so its one-minute deadline runs while other tests do."""
    with httpx.Client(base_url=short_window_stack.url("intake"), timeout=15) as client:
        token = client.post("/api/v1/dev/tokens", json={"sub": "e2e-overdue-citizen"}).json()["access_token"]
        created = client.post(
            "/api/v1/appeals",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "kind": "complaint",
                "topic": "dev.short_sla",
                "summary": "Демонстрация просрочки",
                "description": "Обращение для проверки короткого срока ответа.",
                "location": {"lat": 57.65, "lon": 43.77},
            },
        )
    assert created.status_code == 201, created.text
    return {**created.json(), "headers": {"Authorization": f"Bearer {token}"}}


@pytest.fixture
async def api(short_window_stack: LocalStack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=short_window_stack.url("intake"), timeout=15) as client:
        yield client


async def status_of(api: httpx.AsyncClient, appeal_id: str, who: dict, wanted: str) -> dict:
    async def reached() -> dict | None:
        body = (await api.get(f"/api/v1/appeals/{appeal_id}", headers=who)).json()
        return body if body["status"] == wanted else None

    return await eventually(reached, timeout=30)


async def test_submit_to_close_with_clarification_and_rereview(
    api: httpx.AsyncClient, mail: MailSink
) -> None:
    citizen = await bearer(api, "e2e-lifecycle-citizen")
    operator = await bearer(api, "e2e-lifecycle-operator", "operator", "city-admin")
    created = await api.post(
        "/api/v1/appeals",
        headers=citizen,
        json={
            "kind": "complaint",
            "topic": "landscaping.street_lighting",
            "summary": "Не горит фонарь во дворе",
            "description": "Фонарь у дома 12 по улице Садовой не горит уже неделю.",
            "location": {"lat": 57.65, "lon": 43.77, "address": "ул. Садовая, 12"},
            "contact": {"email": "lifecycle@example.org"},
        },
    )
    assert created.status_code == 201, created.text
    appeal_id, number = created.json()["id"], created.json()["number"]
    path = f"/api/v1/appeals/{appeal_id}"
    routed = await status_of(api, appeal_id, citizen, "routed")
    assert routed["organization"]["id"] == "city-admin"

    async def act(action: str, who: dict, body: dict | None = None) -> dict:
        response = await api.post(f"{path}/{action}", headers=who, json=body)
        assert response.status_code == 200, f"{action}: {response.text}"
        return dict(response.json())

    await eventually(lambda: _has_due(api, path, citizen), timeout=30)
    await act("take", operator)
    await act("clarification-request", operator, {"question": "Какой номер опоры?"})
    await act("comments", citizen, {"text": "Опора № 7."})
    await act("answer", operator, {"text": "Лампа заменена."})
    assert (await act("rating", citizen, {"score": 2}))["status"] == "rereview"
    await act("take", operator)
    await act("answer", operator, {"text": "Заменён светильник целиком."})
    assert (await act("rating", citizen, {"score": 5}))["status"] == "answered"

    closed = await status_of(api, appeal_id, citizen, "closed")  # the rating window ended
    assert [entry["status"] for entry in closed["timeline"]][-2:] == ["answered", "closed"]
    last = closed["timeline"][-1]["actor"]
    assert (last["role"], last["id"]) == ("system", "deadlines")

    def told(messages: list[EmailMessage]) -> bool:
        subjects = [str(message["Subject"]) for message in messages if number in str(message["Subject"])]
        return len(subjects) >= 4

    messages = await mail.wait_for(told, timeout=30)
    ours = [message for message in messages if number in str(message["Subject"])]
    assert all(message["To"] == "lifecycle@example.org" for message in ours)
    feed = (await api.get("/api/v1/me/notifications", headers=citizen)).json()
    kinds = {item["kind"] for item in feed["items"] if item["number"] == number}
    assert {"registered", "answered"} <= kinds


async def _has_due(api: httpx.AsyncClient, path: str, who: dict) -> bool:
    return bool((await api.get(path, headers=who)).json().get("due_at"))


async def test_short_sla_demo_topic_goes_overdue(api: httpx.AsyncClient, short_sla_appeal: dict) -> None:
    """The dev-only topic must be answered within a minute: a person can watch it go overdue."""
    assert "dev.short_sla" in {topic["code"] for topic in (await api.get("/api/v1/topics")).json()}
    citizen = short_sla_appeal["headers"]

    async def overdue() -> dict | None:
        body = (await api.get(f"/api/v1/appeals/{short_sla_appeal['id']}", headers=citizen)).json()
        return body if body.get("overdue") else None

    record = await eventually(overdue, timeout=120, interval=1.0)
    assert record["overdue_at"]
    assert any(entry["action"] == "overdue:answer" for entry in record["timeline"])
    admin = await bearer(api, "e2e-admin", "admin")
    table = await api.get("/api/v1/stats/organizations", headers=admin)
    assert table.status_code == 200, table.text
