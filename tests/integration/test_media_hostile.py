"""The hostile corpus (tests/test_media_corpus.py) through the public gateway: each file is
refused with a clear problem+json naming its rule, or stored cleaned; so are oversized and
malformed requests. The platform (intake in-process, media under uvicorn, real S3 and RabbitMQ)
is the one of test_media_gateway."""

from __future__ import annotations

import io
import uuid
import zipfile
from collections.abc import AsyncIterator

import pytest

from tests import test_media_corpus as corpus
from tests.integration.test_media_gateway import APPEAL, LIMIT, Platform, follow, platform
from tests.integration.test_media_s3 import problem

pytestmark = pytest.mark.integration
__all__ = ["platform"]  # the module-scoped fixture, used here too


HOSTILE = [
    ("png-bomb", corpus.png_bomb(), "bomb.png", "image/png", 413, "too_many_pixels"),
    (
        "jpeg-60000x60000",
        corpus.jpeg_declaring(60_000, 60_000),
        "big.jpg",
        "image/jpeg",
        413,
        "too_many_pixels",
    ),
    ("script-named-jpg", corpus.SCRIPT_AS_JPG, "holiday.jpg", "image/jpeg", 415, "unsupported_type"),
    ("html-named-jpg", corpus.HTML_AS_JPG, "photo.jpg", "image/jpeg", 415, "unsupported_type"),
    ("svg", corpus.SVG, "map.svg", "image/svg+xml", 415, "unsupported_type"),
    ("exe-named-pdf", corpus.EXECUTABLE, "scan.pdf", "application/pdf", 415, "unsupported_type"),
    ("heic", corpus.heic(), "IMG_0002.HEIC", "image/heic", 415, "unsupported_type"),
    ("truncated-jpeg", corpus.truncated("JPEG"), "cut.jpg", "image/jpeg", 422, "corrupt"),
    ("truncated-png", corpus.truncated("PNG"), "cut.png", "image/png", 422, "corrupt"),
    ("truncated-webp", corpus.truncated("WEBP"), "cut.webp", "image/webp", 422, "corrupt"),
    ("zero-bytes", b"", "empty.jpg", "image/jpeg", 422, "empty"),
    ("pdf-javascript", corpus.pdf_with_javascript(), "form.pdf", "application/pdf", 422, "active_content"),
    ("pdf-plus-zip", corpus.pdf() + corpus.zip_archive(), "doc.pdf", "application/pdf", 422, "corrupt"),
    ("mp4-plus-zip", corpus.video() + corpus.zip_archive(), "clip.mp4", "video/mp4", 422, "corrupt"),
    ("mp4-10-minutes", corpus.video(seconds=600), "long.mp4", "video/mp4", 422, "too_long"),
]


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize(
    ("content", "name", "mime", "status", "reason"), [pytest.param(*case[1:], id=case[0]) for case in HOSTILE]
)
async def test_every_hostile_file_gets_a_clear_error_and_nothing_is_stored(
    platform: Platform, content: bytes, name: str, mime: str, status: int, reason: str
) -> None:
    owner = f"hostile-{uuid.uuid4().hex[:8]}"

    body = problem(await platform.upload(owner, content, name, mime), status, reason)

    assert body["title"] and body["title"] != "Internal Server Error"
    assert await platform.stored(owner) == 0


async def test_a_polyglot_is_stored_as_its_picture_only(platform: Platform) -> None:
    uploaded = await platform.upload("resident-5", corpus.polyglot_jpeg())
    assert uploaded.status_code == 201, uploaded.text

    redirect = await platform.gateway.get(
        f"/api/v1/media/{uploaded.json()['id']}", headers=platform.who("resident-5")
    )
    stored = (await follow(redirect)).content
    assert b"PK\x03\x04" not in stored
    assert b"<script" not in stored
    assert not zipfile.is_zipfile(io.BytesIO(stored))


async def test_a_huge_declared_size_is_refused_unread(platform: Platform) -> None:
    headers = {
        **platform.who("resident-6"),
        "Content-Type": "multipart/form-data; boundary=x",
        "Content-Length": str(10**12),
    }

    response = await platform.gateway.post("/api/v1/media", headers=headers, content=b"--x--\r\n")

    body = problem(response, 413, "too_large")
    assert str(LIMIT) in body["detail"]


async def test_a_streamed_body_over_the_limit_is_cut_off(platform: Platform) -> None:
    boundary = "stream-boundary"

    async def body() -> AsyncIterator[bytes]:  # chunked: no Content-Length to refuse it by
        yield f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'.encode()
        for _ in range(48):
            yield b"\xff" * (64 * 1024)
        yield f"\r\n--{boundary}--\r\n".encode()

    headers = {**platform.who("resident-7"), "Content-Type": f"multipart/form-data; boundary={boundary}"}
    response = await platform.gateway.post("/api/v1/media", headers=headers, content=body())

    problem(response, 413, "too_large")
    assert await platform.stored("resident-7") == 0


async def test_wrong_multipart_requests_name_the_rule(platform: Platform) -> None:
    who = platform.who("resident-8")
    photo = corpus.encoded("JPEG", (8, 8))
    raw = await platform.gateway.post(
        "/api/v1/media", headers={**who, "Content-Type": "image/jpeg"}, content=photo
    )
    problem(raw, 415, "malformed_request")
    no_boundary = {**who, "Content-Type": "multipart/form-data"}
    problem(
        await platform.gateway.post("/api/v1/media", headers=no_boundary, content=photo),
        415,
        "malformed_request",
    )
    wrong_field = await platform.gateway.post("/api/v1/media", headers=who, files={"photo": ("a.jpg", photo)})
    problem(wrong_field, 422, "malformed_request")
    two_files = [("file", ("a.jpg", photo)), ("file", ("b.jpg", photo))]
    problem(
        await platform.gateway.post("/api/v1/media", headers=who, files=two_files), 400, "malformed_request"
    )
    garbled = {**who, "Content-Type": "multipart/form-data; boundary=expected"}
    response = await platform.gateway.post(
        "/api/v1/media", headers=garbled, content=b"--other\r\n\r\nxx\r\n--other--"
    )
    assert response.status_code in (400, 422)
    assert response.json()["reason"] == "malformed_request"
    problem(await platform.gateway.post("/api/v1/media", files={"file": ("a.jpg", photo)}), 401)
    assert await platform.stored("resident-8") == 0


async def test_the_same_file_twice_is_one_file(platform: Platform) -> None:
    first = (await platform.upload("resident-9", corpus.phone_photo((30, 20)))).json()
    again = (await platform.upload("resident-9", corpus.phone_photo((30, 20)), "copy.jpg")).json()

    assert again["id"] == first["id"]
    assert again["deduplicated"] is True
    assert again["location_hint"] == first["location_hint"]


async def test_too_many_files_are_refused_per_owner_and_per_appeal(platform: Platform) -> None:
    for seed in range(6):
        assert (await platform.upload("hoarder", corpus.encoded("PNG", (4 + seed, 4)))).status_code == 201

    body = problem(await platform.upload("hoarder", corpus.encoded("PNG", (20, 4))), 429, "too_many_files")
    assert "6" in body["detail"]
    eleven = [uuid.uuid4().hex for _ in range(11)]
    appeal = await platform.gateway.post(
        "/api/v1/appeals", headers=platform.who("hoarder"), json={**APPEAL, "media_ids": eleven}
    )
    assert appeal.status_code == 422
    assert "too many files" in appeal.json()["detail"]
