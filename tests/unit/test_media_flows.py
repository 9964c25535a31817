"""Media use cases over the in-memory store and a fake object store."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image

from libs.common.clock import ManualClock
from libs.common.events import AppealSubmittedV1, Location
from libs.common.store import open_store
from services.media.flows import MediaFlows
from services.media.service import MediaRejected
from services.media.settings import MediaSettings


class FakeObjects:
    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, str]] = {}

    async def ensure_bucket(self) -> None:
        return None

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        self.objects[key] = (data, content_type)

    async def delete(self, key: str) -> None:
        self.objects.pop(key, None)

    async def presigned_get(self, key: str, ttl: timedelta) -> str:
        return f"http://objects.test/{key}?expires={int(ttl.total_seconds())}"

    async def ping(self) -> bool:
        return True


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 3)).save(out, "PNG")
    return out.getvalue()


def submitted(author: str, media_ids: list[str], appeal_id: str = "appeal-1") -> AppealSubmittedV1:
    return AppealSubmittedV1(
        appeal_id=appeal_id,
        number="2026-000001",
        kind="complaint",
        channel="web",
        topic="roads",
        summary="s",
        description="d",
        location=Location(lat=55.7, lon=37.6),
        media_ids=media_ids,
        author_id=author,
        submitted_at=datetime(2026, 1, 15, tzinfo=UTC),
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def objects() -> FakeObjects:
    return FakeObjects()


@pytest.fixture
def flows(objects: FakeObjects, clock: ManualClock) -> MediaFlows:
    store = open_store(None, f"media_unit_{uuid.uuid4().hex[:8]}")
    return MediaFlows(store.db, objects, MediaSettings(env="dev"), clock)


async def test_upload_stores_the_cleaned_object_and_its_record(
    flows: MediaFlows, objects: FakeObjects
) -> None:
    doc = await flows.upload("user-1", png())

    data, content_type = objects.objects[doc.object_key]
    assert content_type == "image/png"
    assert len(data) == doc.size
    stored = await flows.get(doc.id)
    assert stored is not None
    assert stored.owner_id == "user-1"
    assert stored.appeal_id is None
    assert (stored.width, stored.height) == (4, 3)


async def test_a_rejected_upload_stores_nothing(flows: MediaFlows, objects: FakeObjects) -> None:
    with pytest.raises(MediaRejected):
        await flows.upload("user-1", b"MZ\x90\x00 an executable")

    assert objects.objects == {}


async def test_link_is_signed_for_the_configured_ttl(flows: MediaFlows) -> None:
    doc = await flows.upload("user-1", png())

    link = await flows.link(doc.id)

    assert link is not None
    assert link.expires_in == 300
    assert link.url.endswith("expires=300")
    assert await flows.link("missing") is None


async def test_submitted_appeal_claims_only_the_authors_media_once(flows: MediaFlows) -> None:
    mine = await flows.upload("author", png())
    theirs = await flows.upload("someone-else", png())
    ids = [mine.id, theirs.id, "no-such-media"]

    assert await flows.attach_to_appeal(submitted("author", ids)) == 1
    assert await flows.attach_to_appeal(submitted("author", ids)) == 0  # redelivery: no effect
    assert await flows.attach_to_appeal(submitted("author", ids, appeal_id="appeal-2")) == 0

    claimed, untouched = await flows.get(mine.id), await flows.get(theirs.id)
    assert claimed is not None
    assert claimed.appeal_id == "appeal-1"
    assert untouched is not None
    assert untouched.appeal_id is None


async def test_orphan_sweep_removes_only_old_unclaimed_media(
    flows: MediaFlows, objects: FakeObjects, clock: ManualClock
) -> None:
    old_orphan = await flows.upload("author", png())
    old_claimed = await flows.upload("author", png())
    await flows.attach_to_appeal(submitted("author", [old_claimed.id]))
    clock.advance(timedelta(hours=30))
    fresh = await flows.upload("author", png())

    assert await flows.sweep_orphans(timedelta(hours=24)) == 1

    assert await flows.get(old_orphan.id) is None
    assert old_orphan.object_key not in objects.objects
    assert await flows.get(old_claimed.id) is not None
    assert await flows.get(fresh.id) is not None
