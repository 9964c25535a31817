"""Photos and documents through the public gateway: intake in-process, media under uvicorn on a
free port (real HTTP between them, as deployed), the real S3 server and the real RabbitMQ.

The hostile corpus (tests/test_media_corpus.py) goes through the front door here: each file is
refused with a clear problem+json naming its rule, or stored cleaned."""

from __future__ import annotations

import asyncio
import io
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from PIL import Image

from libs.common.auth import Role, issue_dev_token
from libs.common.events import AppealRoutedV1, EventType, OrganizationRef, new_event
from libs.common.settings import DEV_SECRET
from services.intake.app import create_app as create_intake
from services.intake.settings import IntakeSettings
from services.media.app import create_app as create_media
from tests import test_media_corpus as corpus
from tests.infra import eventually
from tests.integration.conftest import S3Server
from tests.integration.test_media_s3 import TOKEN, drop_broker_names, media_settings, problem

pytestmark = pytest.mark.integration

LIMIT = 2 * 1024 * 1024
APPEAL = {
    "kind": "complaint",
    "topic": "roads.potholes",
    "summary": "Яма у остановки",
    "description": "Глубокая яма на проезжей части у остановки «Школа».",
    "location": {"lat": 55.7558, "lon": 37.6173, "address": "Красная площадь"},
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Platform:
    gateway: httpx.AsyncClient
    intake: FastAPI
    media: FastAPI

    def who(self, sub: str, role: Role = Role.CITIZEN, org_id: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_dev_token(DEV_SECRET, sub=sub, role=role, org_id=org_id)}"}

    async def upload(
        self, sub: str, content: bytes, name: str = "IMG_0001.jpg", mime: str = "image/jpeg"
    ) -> httpx.Response:
        files = {"file": (name, content, mime)}
        return await self.gateway.post("/api/v1/media", headers=self.who(sub), files=files)

    async def stored(self, owner: str) -> int:
        return int(await self.media.state.runtime.db["media"].count_documents({"owner_id": owner}))


@pytest.fixture(scope="module")
async def platform(s3: S3Server, rabbit_url: str, mongo_url: str | None) -> AsyncIterator[Platform]:
    settings = media_settings(
        s3, rabbit_url, mongo_url, max_upload_bytes=LIMIT, max_video_bytes=LIMIT, max_pending_per_owner=6
    )
    media = create_media(settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(media, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    )
    serving = asyncio.create_task(server.serve())
    intake = create_intake(
        IntakeSettings(
            env="dev",
            namespace=settings.namespace,
            rabbit_url=rabbit_url,
            mongo_url=mongo_url,
            internal_token=TOKEN,
            media_url=f"http://127.0.0.1:{port}",
            routing_url=f"http://127.0.0.1:{free_port()}",  # down: topics are not checked
            notify_url=f"http://127.0.0.1:{free_port()}",
            max_upload_bytes=LIMIT,
        )
    )
    try:

        async def started() -> bool:
            return bool(server.started)

        await eventually(started, timeout=20)
        async with intake.router.lifespan_context(intake):
            transport = httpx.ASGITransport(app=intake)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://gateway", timeout=30
            ) as client:
                yield Platform(client, intake, media)
    finally:
        server.should_exit = True
        await serving
        await drop_broker_names(rabbit_url, settings.namespace, "media", "intake")


async def follow(response: httpx.Response) -> httpx.Response:
    """Where the gateway's redirect leads: the signed link, fetched as a browser would."""
    assert response.status_code == 307, response.text
    assert response.headers["cache-control"] == "private, no-store"
    async with httpx.AsyncClient() as browser:
        return await browser.get(response.headers["location"])


async def test_a_phone_photo_comes_back_clean_with_a_thumbnail_and_its_place_as_a_hint(
    platform: Platform,
) -> None:
    uploaded = await platform.upload("resident-1", corpus.phone_photo((2400, 1200)))

    assert uploaded.status_code == 201, uploaded.text
    created = uploaded.json()
    assert created["location_hint"] == {"lat": corpus.GPS_LAT, "lon": corpus.GPS_LON}
    assert created["variants"] == ["original", "web", "thumb"]
    owner = platform.who("resident-1")
    photo = await follow(await platform.gateway.get(f"/api/v1/media/{created['id']}", headers=owner))
    assert photo.headers["content-type"] == "image/jpeg"
    assert b"PhoneMaker" not in photo.content
    assert b"secret place" not in photo.content
    with Image.open(io.BytesIO(photo.content)) as image:
        assert image.size == (1200, 2400)  # upright: the EXIF orientation was applied
        assert len(image.getexif()) == 0
        assert not {"exif", "xmp"} & set(image.info)
    for variant, longest in (("web", 1600), ("thumb", 256)):
        redirect = await platform.gateway.get(
            f"/api/v1/media/{created['id']}", headers=owner, params={"variant": variant}
        )
        with Image.open(io.BytesIO((await follow(redirect)).content)) as image:
            assert max(image.size) == longest
            assert len(image.getexif()) == 0
    meta = (await platform.gateway.get(f"/api/v1/media/{created['id']}/meta", headers=owner)).json()
    assert meta["owned"] is True
    assert meta["location_hint"] == created["location_hint"]


async def test_strangers_get_neither_the_file_nor_its_place(platform: Platform) -> None:
    media_id = (await platform.upload("resident-2", corpus.phone_photo((64, 48)))).json()["id"]
    stranger = platform.who("stranger")
    other_org = platform.who("op-x", Role.OPERATOR, "roads")

    for headers in (stranger, other_org):
        for path in (f"/api/v1/media/{media_id}", f"/api/v1/media/{media_id}/meta"):
            problem(await platform.gateway.get(path, headers=headers), 404, "not_found")
        thumb = await platform.gateway.get(f"/api/v1/media/{media_id}?variant=thumb", headers=headers)
        problem(thumb, 404, "not_found")
    problem(await platform.gateway.get(f"/api/v1/media/{media_id}"), 401)
    admin = await platform.gateway.get(
        f"/api/v1/media/{media_id}/meta", headers=platform.who("a", Role.ADMIN)
    )
    assert admin.status_code == 200
    assert admin.json()["location_hint"] is None  # not even an admin sees where it was taken
    problem(await platform.gateway.get("/api/v1/media/..", headers=stranger), 404)


async def test_an_appeal_shares_its_photo_with_the_organisation_and_an_admin_may_publish_it(
    platform: Platform,
) -> None:
    media_id = (await platform.upload("resident-3", corpus.phone_photo((64, 48)))).json()["id"]
    author = platform.who("resident-3")
    created = await platform.gateway.post(
        "/api/v1/appeals", headers=author, json={**APPEAL, "media_ids": [media_id]}
    )
    assert created.status_code == 201, created.text
    appeal = created.json()

    async def attached() -> dict[str, Any] | None:
        meta = (await platform.gateway.get(f"/api/v1/media/{media_id}/meta", headers=author)).json()
        return meta if meta["appeal_id"] == appeal["id"] else None

    meta = await eventually(attached, timeout=15)  # appeal.submitted reached media
    assert meta["location_hint"] is None  # the appeal has its own place now
    routed = AppealRoutedV1(
        appeal_id=appeal["id"],
        number=appeal["number"],
        topic=APPEAL["topic"],
        organization=OrganizationRef(id="roads", name="Дорожное управление"),
        rule="test",
        answer_sla_days=30,
        routed_at=datetime.now(UTC),
    )
    event = new_event(
        EventType.APPEAL_ROUTED, routed, source="routing", subject=appeal["id"], correlation_id="t"
    )
    await platform.intake.state.runtime.bus.publish(event)
    roads = platform.who("op-roads", Role.OPERATOR, "roads")

    async def operator_sees() -> bool:
        return (await platform.gateway.get(f"/api/v1/media/{media_id}", headers=roads)).status_code == 307

    await eventually(operator_sees, timeout=15)
    city = platform.who("op-city", Role.OPERATOR, "city")
    problem(await platform.gateway.get(f"/api/v1/media/{media_id}", headers=city), 404)

    publish = f"/api/v1/admin/media/{media_id}/publish"
    problem(await platform.gateway.post(publish, headers=author), 403)
    published = await platform.gateway.post(publish, headers=platform.who("admin-1", Role.ADMIN))
    assert published.status_code == 200, published.text
    assert published.json()["public"] is True
    assert (await follow(await platform.gateway.get(f"/api/v1/media/{media_id}"))).status_code == 200
    public_meta = (await platform.gateway.get(f"/api/v1/media/{media_id}/meta")).json()
    assert public_meta["appeal_id"] is None  # strangers learn nothing beyond the file
    await platform.gateway.delete(publish, headers=platform.who("admin-1", Role.ADMIN))
    problem(await platform.gateway.get(f"/api/v1/media/{media_id}"), 401)


async def test_only_attached_files_can_be_published(platform: Platform) -> None:
    media_id = (await platform.upload("resident-4", corpus.encoded("PNG", (5, 5)))).json()["id"]

    response = await platform.gateway.post(
        f"/api/v1/admin/media/{media_id}/publish", headers=platform.who("admin-1", Role.ADMIN)
    )

    problem(response, 409, "not_attached")
