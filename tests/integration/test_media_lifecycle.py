"""How long media lives, against the real S3 server and RabbitMQ: claimed by appeal.submitted and
appeal.answered, published, removed with its appeal; and the bucket must stay private."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from minio import Minio
from minio.error import S3Error

from libs.common.events import AppealAnsweredV1, EventType, OrganizationRef
from services.media.app import create_app
from services.media.settings import MediaSettings
from tests import test_media_corpus as corpus
from tests.events import appeal_submitted
from tests.infra import eventually
from tests.integration.conftest import S3Server
from tests.integration.test_media_s3 import Media, drop_broker_names, media, media_settings, problem, upload

pytestmark = pytest.mark.integration
__all__ = ["media"]  # the module-scoped fixture, used here too


async def test_appeal_and_answer_claim_their_media_through_the_broker(media: Media) -> None:
    mine = (await upload(media, corpus.encoded("JPEG", (9, 9)), owner="author-1")).json()["id"]
    theirs = (await upload(media, corpus.encoded("JPEG", (9, 9)), owner="someone-else")).json()["id"]
    answer = (await upload(media, corpus.pdf(), owner="operator-1")).json()["id"]
    appeal_id = uuid.uuid4().hex
    await media.publish(
        EventType.APPEAL_SUBMITTED, appeal_submitted([mine, theirs], appeal_id=appeal_id), appeal_id
    )
    answered = AppealAnsweredV1(
        appeal_id=appeal_id,
        number="2026-000042",
        organization=OrganizationRef(id="roads", name="Roads"),
        at=datetime.now(UTC),
        operator_id="operator-1",
        text="Fixed",
        media_ids=[answer],
    )
    await media.publish(EventType.APPEAL_ANSWERED, answered, appeal_id)

    async def claimed() -> bool:
        bodies = [(await media.client.get(f"/internal/media/{i}")).json() for i in (mine, answer)]
        return [(b["appeal_id"], b["attached_as"]) for b in bodies] == [
            (appeal_id, "appeal"),
            (appeal_id, "answer"),
        ]

    await eventually(claimed, timeout=15)
    assert (await media.client.get(f"/internal/media/{theirs}")).json()["appeal_id"] is None

    published = await media.client.post(f"/internal/media/{answer}/publish", json={"by": "admin-1"})
    assert published.status_code == 200, published.text
    assert published.json()["public"] is True
    unattached = await media.client.post(f"/internal/media/{theirs}/publish", json={"by": "admin-1"})
    problem(unattached, 409, "not_attached")

    links = [
        (await media.client.get(f"/internal/media/{i}/link", params={"variant": v})).json()["url"]
        for i, v in ((mine, "original"), (mine, "thumb"), (answer, "original"))
    ]
    removed = await media.client.delete(f"/internal/appeals/{appeal_id}/media")
    assert removed.json() == {"appeal_id": appeal_id, "deleted": 2}
    problem(await media.client.get(f"/internal/media/{mine}"), 404, "not_found")
    async with httpx.AsyncClient() as outside:
        for link in links:  # links handed out before stop working
            assert (await outside.get(link)).status_code in (403, 404)
    s3 = s3_client(media.settings)
    for key in (
        f"media/{mine}/original",
        f"media/{mine}/web",
        f"media/{mine}/thumb",
        f"media/{answer}/original",
    ):
        with pytest.raises(S3Error, match=r"NoSuchKey|Not Found|does not exist"):
            s3.stat_object(media.settings.bucket_name, key)


def s3_client(settings: MediaSettings) -> Minio:
    return Minio(
        settings.s3_endpoint.split("://", 1)[1],
        access_key=settings.s3_access_key.get_secret_value(),
        secret_key=settings.s3_secret_key.get_secret_value(),
        secure=False,
        region=settings.s3_region,
    )


async def test_a_bucket_made_public_stops_the_service_from_starting(s3: S3Server, rabbit_url: str) -> None:
    settings = media_settings(s3, rabbit_url, None)
    client = s3_client(settings)
    client.make_bucket(settings.bucket_name)
    statement = {
        "Effect": "Allow",
        "Principal": {"AWS": ["*"]},
        "Action": ["s3:GetObject", "s3:ListBucket"],
        "Resource": [f"arn:aws:s3:::{settings.bucket_name}", f"arn:aws:s3:::{settings.bucket_name}/*"],
    }
    client.set_bucket_policy(
        settings.bucket_name, json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    )
    app = create_app(settings)
    try:
        with pytest.raises(RuntimeError, match="public policy"):
            async with app.router.lifespan_context(app):
                pass
    finally:
        client.delete_bucket_policy(settings.bucket_name)
        client.remove_bucket(settings.bucket_name)
        await drop_broker_names(rabbit_url, settings.namespace)


async def test_ready_reports_the_object_store(s3: S3Server, rabbit_url: str) -> None:
    settings = media_settings(s3, rabbit_url, None)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://media") as client:
            ready = (await client.get("/ready")).json()
    assert ready["checks"] == {"store": True, "object_store": True} and ready["broker"] == "up"
