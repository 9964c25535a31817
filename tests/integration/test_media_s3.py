"""The media service in-process against a real S3 server (the `s3` fixture) and the real RabbitMQ."""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aio_pika
import httpx
import pytest
from fastapi import FastAPI
from PIL import Image
from pydantic import BaseModel

from libs.common.auth import INTERNAL_TOKEN_HEADER
from libs.common.events import (
    EventType,
    new_event,
)
from libs.common.topology import Topology
from services.media.app import create_app
from services.media.settings import MediaSettings
from tests import test_media_corpus as corpus
from tests.infra import session_namespace
from tests.integration.conftest import S3Server

pytestmark = pytest.mark.integration

TOKEN = "media-test-token"
LIMIT = 256 * 1024


@dataclass
class Media:
    client: httpx.AsyncClient
    app: FastAPI
    settings: MediaSettings

    async def publish(self, event_type: EventType, payload: BaseModel, appeal_id: str) -> None:
        event = new_event(event_type, payload, source="intake", subject=appeal_id, correlation_id="c-1")
        await self.app.state.runtime.bus.publish(event)


async def drop_broker_names(rabbit_url: str, namespace: str, *consumers: str) -> None:
    """The test namespace's durable queues and exchanges would otherwise outlive the run."""
    topology = Topology(namespace)
    connection = await aio_pika.connect(rabbit_url)
    async with connection:
        channel = await connection.channel()
        for consumer in consumers or ("media",):
            queue = topology.queue_name(consumer)
            for name in (queue, f"{queue}.retry", f"{queue}.dlq"):
                await channel.queue_delete(name)
        for exchange in (topology.events_exchange.name, topology.dead_letter_exchange.name):
            await channel.exchange_delete(exchange)


def media_settings(s3: S3Server, rabbit_url: str, mongo_url: str | None, **extra: Any) -> MediaSettings:
    return MediaSettings(
        env="dev",
        namespace=session_namespace(),
        rabbit_url=rabbit_url,
        mongo_url=mongo_url,
        s3_endpoint=s3.endpoint,
        s3_access_key=s3.access_key,
        s3_secret_key=s3.secret_key,
        internal_token=TOKEN,
        **extra,
    )


@pytest.fixture(scope="module")
async def media(s3: S3Server, rabbit_url: str, mongo_url: str | None) -> AsyncIterator[Media]:
    settings = media_settings(s3, rabbit_url, mongo_url, max_upload_bytes=LIMIT, max_video_bytes=LIMIT)
    app = create_app(settings)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://media.test", headers={INTERNAL_TOKEN_HEADER: TOKEN}
            ) as client:
                yield Media(client, app, settings)
    finally:
        await drop_broker_names(rabbit_url, settings.namespace)


async def upload(
    media: Media,
    content: bytes,
    *,
    name: str = "photo.jpg",
    mime: str = "image/jpeg",
    owner: str | None = "citizen-1",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    sent = {**({"X-Owner-Id": owner} if owner else {}), **(headers or {})}
    return await media.client.post("/internal/media", files={"file": (name, content, mime)}, headers=sent)


def problem(response: httpx.Response, status: int, reason: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["detail"]
    if reason is not None:
        assert body["reason"] == reason, body
    return body


async def fetch(media: Media, media_id: str, variant: str = "original") -> httpx.Response:
    link = await media.client.get(f"/internal/media/{media_id}/link", params={"variant": variant})
    assert link.status_code == 200, link.text
    assert link.json()["expires_in"] == media.settings.link_ttl_seconds
    async with httpx.AsyncClient() as outside:
        return await outside.get(link.json()["url"])


async def test_a_phone_photo_is_stored_clean_with_variants_behind_signed_links(media: Media) -> None:
    response = await upload(media, corpus.phone_photo((1200, 800)))

    assert response.status_code == 201, response.text
    created = response.json()
    assert created["content_type"] == "image/jpeg"
    assert (created["width"], created["height"]) == (800, 1200)  # EXIF orientation applied
    assert created["variants"] == ["original", "web", "thumb"]
    assert created["location_hint"] == {"lat": corpus.GPS_LAT, "lon": corpus.GPS_LON}
    assert created["deduplicated"] is False

    original = await fetch(media, created["id"])
    assert original.status_code == 200
    assert original.headers["content-type"] == "image/jpeg"
    assert len(original.content) == created["size"]
    assert b"PhoneMaker" not in original.content
    with Image.open(io.BytesIO(original.content)) as image:
        assert image.size == (800, 1200)
        assert len(image.getexif()) == 0
        assert "exif" not in image.info
    thumb = await fetch(media, created["id"], "thumb")
    assert thumb.status_code == 200
    with Image.open(io.BytesIO(thumb.content)) as image:
        assert max(image.size) == 256
    async with httpx.AsyncClient() as outside:
        link = (await media.client.get(f"/internal/media/{created['id']}/link")).json()["url"]
        unsigned = await outside.get(link.split("?", 1)[0])
    assert unsigned.status_code == 403  # the object itself is private


async def test_the_same_photo_again_is_the_same_file(media: Media) -> None:
    first = (await upload(media, corpus.encoded("PNG", (7, 7)), owner="twice")).json()
    again = (await upload(media, corpus.encoded("PNG", (7, 7)), owner="twice")).json()

    assert again["id"] == first["id"]
    assert again["deduplicated"] is True


async def test_metadata_describes_the_upload(media: Media) -> None:
    created = (await upload(media, corpus.phone_photo((64, 48)), owner="citizen-7")).json()

    response = await media.client.get(f"/internal/media/{created['id']}")

    assert response.status_code == 200
    body = response.json()
    assert body["owner_id"] == "citizen-7"
    assert body["appeal_id"] is None
    assert body["public"] is False
    assert body["location_hint"] == created["location_hint"]
    assert datetime.fromisoformat(body["created_at"]).tzinfo is not None


async def test_a_document_is_a_download_and_has_no_thumbnail(media: Media) -> None:
    created = (await upload(media, corpus.pdf(), name="scan.pdf", mime="application/pdf")).json()

    document = await fetch(media, created["id"])
    assert document.content == corpus.pdf()
    assert document.headers["content-type"] == "application/pdf"
    missing = await media.client.get(f"/internal/media/{created['id']}/link", params={"variant": "thumb"})
    problem(missing, 404, "variant_missing")


async def test_a_video_is_stored_without_its_place(media: Media) -> None:
    created = (await upload(media, corpus.video(), name="clip.mp4", mime="video/mp4")).json()

    assert created["content_type"] == "video/mp4"
    assert created["duration_seconds"] == 5.0
    assert created["location_hint"] == {"lat": 55.7558, "lon": 37.6173}
    stored = (await fetch(media, created["id"])).content
    assert len(stored) == len(corpus.video())
    assert b"+55.7558" not in stored


async def test_wrong_internal_token_is_refused(media: Media) -> None:
    bad = {INTERNAL_TOKEN_HEADER: "not-the-token"}

    problem(await upload(media, corpus.phone_photo((8, 8)), headers=bad), 401)
    problem(await media.client.get("/internal/media/anything", headers=bad), 401)


async def test_owner_header_is_required(media: Media) -> None:
    body = problem(await upload(media, corpus.phone_photo((8, 8)), owner=None), 422)

    assert "X-Owner-Id" in body["detail"]


@pytest.mark.parametrize("size", [LIMIT + 1, 8 * LIMIT])  # caught after reading / by Content-Length
async def test_too_big_upload_is_refused(media: Media, size: int) -> None:
    body = problem(await upload(media, b"\x89PNG\r\n\x1a\n" + os.urandom(size)), 413, "too_large")

    assert str(LIMIT) in body["detail"]


async def test_too_big_chunked_upload_is_cut_off_while_streaming(media: Media) -> None:
    boundary = "media-test-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    sent: list[int] = []

    async def body() -> AsyncIterator[bytes]:  # no Content-Length: the size is unknown upfront
        yield head
        for _ in range(64):
            sent.append(1)
            yield b"\xff" * (64 * 1024)
        yield f"\r\n--{boundary}--\r\n".encode()

    response = await media.client.post(
        "/internal/media",
        content=body(),
        headers={"X-Owner-Id": "u", "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )

    problem(response, 413, "too_large")
    assert len(sent) < 64  # reading stopped at the limit instead of taking all 4 MiB


async def test_content_decides_the_type_not_the_name(media: Media) -> None:
    problem(await upload(media, corpus.SCRIPT_AS_JPG, name="holiday.jpg"), 415, "unsupported_type")


async def test_empty_and_missing_files_are_refused(media: Media) -> None:
    problem(await upload(media, b""), 422, "empty")
    form = await media.client.post("/internal/media", headers={"X-Owner-Id": "u"}, files={"x": ("a", b"1")})
    problem(form, 422, "malformed_request")


async def test_unknown_media_is_not_found(media: Media) -> None:
    problem(await media.client.get(f"/internal/media/{uuid.uuid4().hex}/link"), 404, "not_found")
    problem(await media.client.get(f"/internal/media/{uuid.uuid4().hex}"), 404, "not_found")
