"""The media service in-process against a real S3 server (moto) and the real RabbitMQ."""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aio_pika
import httpx
import pytest
from fastapi import FastAPI
from PIL import ExifTags, Image

from libs.common.auth import INTERNAL_TOKEN_HEADER
from libs.common.events import AppealSubmittedV1, EventType, Location, new_event
from libs.common.topology import Topology
from services.media.app import create_app
from services.media.settings import MediaSettings
from tests.infra import eventually
from tests.integration.conftest import S3Server

pytestmark = pytest.mark.integration

TOKEN = "media-test-token"
LIMIT = 256 * 1024


@dataclass
class Media:
    client: httpx.AsyncClient
    app: FastAPI
    settings: MediaSettings


def gps_jpeg() -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneMaker"
    exif[ExifTags.Base.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: "N",
        ExifTags.GPS.GPSLatitude: (55.0, 45.0, 21.0),
        ExifTags.GPS.GPSLongitudeRef: "E",
        ExifTags.GPS.GPSLongitude: (37.0, 37.0, 4.0),
    }
    out = io.BytesIO()
    Image.new("RGB", (48, 32), (10, 120, 200)).save(out, "JPEG", exif=exif)
    return out.getvalue()


async def drop_broker_names(rabbit_url: str, namespace: str) -> None:
    """The test namespace's durable queues and exchanges would otherwise outlive the run."""
    topology = Topology(namespace)
    queue = topology.queue_name("media")
    connection = await aio_pika.connect(rabbit_url)
    async with connection:
        channel = await connection.channel()
        for name in (queue, f"{queue}.retry", f"{queue}.dlq"):
            await channel.queue_delete(name)
        for exchange in (topology.events_exchange.name, topology.dead_letter_exchange.name):
            await channel.exchange_delete(exchange)


@pytest.fixture(scope="module")
async def media(s3: S3Server, rabbit_url: str, mongo_url: str | None) -> AsyncIterator[Media]:
    settings = MediaSettings(
        env="dev",
        namespace=f"test-{uuid.uuid4().hex[:8]}",
        rabbit_url=rabbit_url,
        mongo_url=mongo_url,
        s3_endpoint=s3.endpoint,
        s3_access_key=s3.access_key,
        s3_secret_key=s3.secret_key,
        internal_token=TOKEN,
        max_upload_bytes=LIMIT,
    )
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


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["detail"]
    return body


async def test_jpeg_is_stored_without_gps_and_served_through_a_signed_link(media: Media) -> None:
    response = await upload(media, gps_jpeg())

    assert response.status_code == 201, response.text
    created = response.json()
    assert set(created) == {"id", "content_type", "size", "sha256", "width", "height"}
    assert created["content_type"] == "image/jpeg"
    assert (created["width"], created["height"]) == (48, 32)

    link = await media.client.get(f"/internal/media/{created['id']}/link")
    assert link.status_code == 200, link.text
    assert link.json()["expires_in"] == media.settings.link_ttl_seconds
    async with httpx.AsyncClient() as outside:
        fetched = await outside.get(link.json()["url"])
        unsigned = await outside.get(link.json()["url"].split("?", 1)[0])

    assert fetched.status_code == 200
    assert len(fetched.content) == created["size"]
    with Image.open(io.BytesIO(fetched.content)) as image:
        image.load()
        assert image.format == "JPEG"
        assert image.size == (48, 32)
        assert len(image.getexif()) == 0
        assert "exif" not in image.info
    assert b"PhoneMaker" not in fetched.content
    assert unsigned.status_code == 403  # the object itself is private


async def test_metadata_describes_the_upload(media: Media) -> None:
    created = (await upload(media, gps_jpeg(), owner="citizen-7")).json()

    response = await media.client.get(f"/internal/media/{created['id']}")

    assert response.status_code == 200
    body = response.json()
    assert body["owner_id"] == "citizen-7"
    assert body["appeal_id"] is None
    assert body["sha256"] == created["sha256"]
    assert body["size"] == created["size"]
    assert datetime.fromisoformat(body["created_at"]).tzinfo is not None


async def test_wrong_internal_token_is_refused(media: Media) -> None:
    bad = {INTERNAL_TOKEN_HEADER: "not-the-token"}

    problem(await upload(media, gps_jpeg(), headers=bad), 401)
    problem(await media.client.get("/internal/media/anything", headers=bad), 401)


async def test_owner_header_is_required(media: Media) -> None:
    body = problem(await upload(media, gps_jpeg(), owner=None), 422)

    assert "X-Owner-Id" in body["detail"]


@pytest.mark.parametrize("size", [LIMIT + 1, 4 * LIMIT])  # caught while reading / by Content-Length
async def test_too_big_upload_is_refused(media: Media, size: int) -> None:
    body = problem(await upload(media, os.urandom(size)), 413)

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

    problem(response, 413)
    assert len(sent) < 64  # reading stopped at the limit instead of taking all 4 MiB


async def test_content_decides_the_type_not_the_name(media: Media) -> None:
    body = problem(await upload(media, b"#!/bin/sh\nrm -rf ~\n", name="holiday.jpg"), 415)

    assert body["reason"] == "unsupported_type"


async def test_empty_and_missing_files_are_refused(media: Media) -> None:
    problem(await upload(media, b""), 422)
    problem(await media.client.post("/internal/media", headers={"X-Owner-Id": "u"}, data={"x": "1"}), 422)


async def test_unknown_media_is_not_found(media: Media) -> None:
    problem(await media.client.get(f"/internal/media/{uuid.uuid4().hex}/link"), 404)
    problem(await media.client.get(f"/internal/media/{uuid.uuid4().hex}"), 404)


async def test_submitted_appeal_claims_its_media_through_the_broker(media: Media) -> None:
    mine = (await upload(media, gps_jpeg(), owner="author-1")).json()["id"]
    theirs = (await upload(media, gps_jpeg(), owner="someone-else")).json()["id"]
    appeal_id = uuid.uuid4().hex
    payload = AppealSubmittedV1(
        appeal_id=appeal_id,
        number="2026-000042",
        kind="complaint",
        channel="web",
        topic="roads",
        summary="Pothole",
        description="A deep pothole",
        location=Location(lat=55.75, lon=37.62),
        media_ids=[mine, theirs],
        author_id="author-1",
        submitted_at=datetime.now(UTC),
    )
    event = new_event(
        EventType.APPEAL_SUBMITTED, payload, source="intake", subject=appeal_id, correlation_id="c-1"
    )
    await media.app.state.runtime.bus.publish(event)

    async def claimed() -> bool:
        body = (await media.client.get(f"/internal/media/{mine}")).json()
        return bool(body["appeal_id"] == appeal_id)

    await eventually(claimed, timeout=15)
    assert (await media.client.get(f"/internal/media/{theirs}")).json()["appeal_id"] is None


async def test_ready_reports_the_object_store(s3: S3Server, rabbit_url: str) -> None:
    settings = MediaSettings(
        env="dev",
        namespace=f"test-{uuid.uuid4().hex[:8]}",
        rabbit_url=rabbit_url,
        s3_endpoint=s3.endpoint,
        s3_access_key=s3.access_key,
        s3_secret_key=s3.secret_key,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://media") as client:
            ready = (await client.get("/ready")).json()
    assert ready["checks"] == {"broker": True, "store": True, "object_store": True}
