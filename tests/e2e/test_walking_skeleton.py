"""One appeal through all five services, each a real OS process, over the real RabbitMQ,
with moto's S3 server and a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import io
from email.message import EmailMessage

import httpx
import pytest
from PIL import Image

from devstack.mailsink import MailSink
from tests.e2e.conftest import bearer, photo
from tests.infra import eventually

pytestmark = pytest.mark.e2e


async def test_appeal_travels_through_all_services(gateway: httpx.AsyncClient, mail: MailSink) -> None:
    citizen = await bearer(gateway, "citizen-e2e")

    topics = (await gateway.get("/api/v1/topics")).json()
    lighting = next(topic for topic in topics if topic["code"] == "landscaping.street_lighting")
    assert lighting["answer_sla_days"] == 20

    uploaded = await gateway.post(
        "/api/v1/media", headers=citizen, files={"file": ("lamp.jpg", photo(), "image/jpeg")}
    )
    assert uploaded.status_code == 201, uploaded.text
    media_id = uploaded.json()["id"]

    created = await gateway.post(
        "/api/v1/appeals",
        headers=citizen,
        json={
            "kind": "complaint",
            "topic": "landscaping.street_lighting",
            "summary": "Не работает фонарь",
            "description": "Фонарь у дома 5 на улице Богдана Хмельницкого не горит.",
            "location": {"lat": 57.65, "lon": 43.77, "address": "ул. Богдана Хмельницкого, 5"},
            "media_ids": [media_id],
            "contact": {"email": "resident@example.org"},
        },
    )
    assert created.status_code == 201, created.text
    appeal = created.json()
    assert appeal["status"] == "received"
    assert appeal["number"].count("-") == 1

    async def routed() -> dict | None:
        body = (await gateway.get(f"/api/v1/appeals/{appeal['id']}", headers=citizen)).json()
        return body if body["status"] == "routed" and body["due_at"] else None

    record = await eventually(routed, timeout=30)
    assert record["organization"]["id"] == "city-admin"
    assert [entry["status"] for entry in record["timeline"]] == ["received", "routed"]

    def registered(messages: list[EmailMessage]) -> bool:
        return any(
            appeal["number"] in str(message["Subject"]) + message.get_body(("plain",)).get_content()
            for message in messages
        )

    messages = await mail.wait_for(registered, timeout=30)
    email = next(
        m for m in messages if appeal["number"] in str(m["Subject"]) + m.get_body(("plain",)).get_content()
    )
    text = email.get_body(("plain",)).get_content()
    assert record["organization"]["name"] == "Администрация города Демоград"
    assert "направлено в Администрацию города Демоград." in text  # the name declined after «в»
    assert email["To"] == "resident@example.org"

    async def in_feed() -> list | None:
        feed = (await gateway.get("/api/v1/me/notifications", headers=citizen)).json()
        return [item for item in feed["items"] if item["number"] == appeal["number"]] or None

    assert len(await eventually(in_feed, timeout=15)) == 1

    link = await gateway.get(f"/api/v1/media/{media_id}", headers=citizen)
    assert link.status_code == 307
    async with httpx.AsyncClient(timeout=10) as plain:
        stored = await plain.get(link.headers["location"])
    assert stored.status_code == 200
    assert Image.open(io.BytesIO(stored.content)).size == (320, 240)


async def test_another_citizen_sees_neither_the_appeal_nor_the_photo(gateway: httpx.AsyncClient) -> None:
    owner = await bearer(gateway, "owner-e2e")
    stranger = await bearer(gateway, "stranger-e2e")
    uploaded = await gateway.post(
        "/api/v1/media", headers=owner, files={"file": ("p.jpg", photo(), "image/jpeg")}
    )
    media_id = uploaded.json()["id"]
    created = await gateway.post(
        "/api/v1/appeals",
        headers=owner,
        json={
            "kind": "question",
            "topic": "transport.schedule",
            "summary": "Расписание",
            "description": "Когда придёт автобус?",
            "location": {"address": "Остановка Центральная"},
            "media_ids": [media_id],
        },
    )
    assert created.status_code == 201
    appeal_id = created.json()["id"]
    for path in (f"/api/v1/appeals/{appeal_id}", f"/api/v1/media/{media_id}"):
        response = await gateway.get(path, headers=stranger)
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
    assert (await gateway.get(f"/api/v1/appeals/{appeal_id}")).status_code == 401
    # Someone else's photo cannot be attached either.
    stolen = await gateway.post(
        "/api/v1/appeals",
        headers=stranger,
        json={
            "kind": "question",
            "topic": "transport.schedule",
            "summary": "Чужое фото",
            "description": "Попытка приложить чужой файл",
            "location": {"address": "где-то"},
            "media_ids": [media_id],
        },
    )
    assert stolen.status_code == 422
