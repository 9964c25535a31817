"""Media use cases over the in-memory store and a fake object store."""

from __future__ import annotations

import asyncio
import io
import uuid
from datetime import timedelta
from typing import BinaryIO

import pytest

from libs.common.clock import ManualClock
from libs.common.contracts.media import AttachedAs, GeoPoint, Rejection, Variant
from libs.common.store import open_store
from services.media.flows import MediaFlows, NotAttached, VariantMissing
from services.media.retention import Retention
from services.media.service import MediaRejected
from services.media.settings import MediaSettings
from tests import test_media_corpus as corpus


class FakeObjects:
    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, str]] = {}
        self.signed: list[dict[str, str]] = []

    async def ensure_bucket(self) -> None:
        return None

    async def put(self, key: str, body: BinaryIO, length: int, content_type: str) -> None:
        body.seek(0)
        self.objects[key] = (body.read(length), content_type)

    async def delete(self, key: str) -> None:
        self.objects.pop(key, None)

    async def presigned_get(self, key: str, ttl: timedelta, *, content_type: str, disposition: str) -> str:
        self.signed.append({"key": key, "content_type": content_type, "disposition": disposition})
        return f"http://objects.test/{key}?expires={int(ttl.total_seconds())}"

    async def ping(self) -> bool:
        return True


class Media:
    def __init__(self, settings: MediaSettings) -> None:
        self.clock = ManualClock()
        self.objects = FakeObjects()
        db = open_store(None, f"media_unit_{uuid.uuid4().hex[:8]}").db
        self.flows = MediaFlows(db, self.objects, settings, self.clock)
        self.retention = Retention(db, self.flows, self.clock)

    async def upload(self, owner: str, raw: bytes) -> str:
        doc, _ = await self.flows.upload(owner, io.BytesIO(raw))
        return doc.id

    def keys(self, media_id: str) -> set[str]:
        return {key for key in self.objects.objects if key.startswith(f"media/{media_id}/")}


def png(seed: int = 0) -> bytes:
    return corpus.encoded("PNG", (4 + seed, 3))


@pytest.fixture
async def media() -> Media:
    m = Media(MediaSettings(env="dev", max_pending_per_owner=5, max_uploads_per_hour=8))
    await m.flows.ensure_indexes()
    return m


async def test_a_photo_is_stored_cleaned_with_its_variants_and_a_private_hint(media: Media) -> None:
    doc, deduplicated = await media.flows.upload("user-1", io.BytesIO(corpus.phone_photo()))

    assert not deduplicated
    assert media.keys(doc.id) == {f"media/{doc.id}/{v}" for v in ("original", "web", "thumb")}
    stored = await media.flows.get(doc.id)
    assert stored is not None
    assert stored.owner_id == "user-1"
    assert stored.appeal_id is None
    assert stored.location_hint == GeoPoint(lat=corpus.GPS_LAT, lon=corpus.GPS_LON)
    assert stored.objects[Variant.THUMB].height == 256
    data, content_type = media.objects.objects[stored.objects[Variant.ORIGINAL].key]
    assert content_type == "image/jpeg"
    assert b"PhoneMaker" not in data


async def test_a_video_is_stored_from_the_cleaned_upload_file(media: Media) -> None:
    media_id = await media.upload("user-1", corpus.video())

    data, content_type = media.objects.objects[f"media/{media_id}/original"]
    assert content_type == "video/mp4"
    assert b"+55.7558" not in data
    assert media.keys(media_id) == {f"media/{media_id}/original"}


async def test_a_rejected_upload_stores_nothing(media: Media) -> None:
    with pytest.raises(MediaRejected):
        await media.upload("user-1", corpus.EXECUTABLE)

    assert media.objects.objects == {}


async def test_identical_uploads_of_one_owner_are_stored_once(media: Media) -> None:
    first = await media.upload("user-1", png())
    media.clock.advance(timedelta(hours=1))
    again, deduplicated = await media.flows.upload("user-1", io.BytesIO(png()))
    other_owner = await media.upload("user-2", png())

    assert deduplicated
    assert again.id == first
    assert again.touched_at == media.clock()  # the retention clock starts again
    assert other_owner != first
    assert len(media.objects.objects) == 6  # two files, three objects each


async def test_concurrent_identical_uploads_end_as_one(media: Media) -> None:
    results = await asyncio.gather(*(media.flows.upload("user-1", io.BytesIO(png())) for _ in range(3)))

    assert len({doc.id for doc, _ in results}) == 1
    assert len(media.objects.objects) == 3


async def test_an_attached_file_is_not_reused_for_the_next_appeal(media: Media) -> None:
    first = await media.upload("user-1", png())
    await media.retention.attach("appeal-1", "user-1", [first], AttachedAs.APPEAL)

    second = await media.upload("user-1", png())

    assert second != first


async def test_links_name_the_variant_type_and_disposition(media: Media) -> None:
    photo = await media.upload("user-1", png())
    document = await media.upload("user-1", corpus.pdf())

    link = await media.flows.link(photo, Variant.THUMB)
    assert link is not None
    assert link.expires_in == 300
    assert link.url.endswith(f"media/{photo}/thumb?expires=300")
    assert media.objects.signed[-1]["disposition"].startswith("inline;")
    assert await media.flows.link(document) is not None
    assert media.objects.signed[-1] == {
        "key": f"media/{document}/original",
        "content_type": "application/pdf",
        "disposition": f'attachment; filename="{document}-original.pdf"',
    }
    with pytest.raises(VariantMissing):
        await media.flows.link(document, Variant.THUMB)
    assert await media.flows.link("missing") is None


async def test_too_many_pending_files_are_refused(media: Media) -> None:
    for seed in range(5):
        await media.upload("hoarder", png(seed))

    with pytest.raises(MediaRejected) as caught:
        await media.flows.check_allowance("hoarder")
    assert caught.value.reason is Rejection.TOO_MANY_FILES
    await media.flows.check_allowance("someone-else")


async def test_too_many_uploads_an_hour_are_refused_with_retry_after(media: Media) -> None:
    for seed in range(8):
        media_id = await media.upload("busy", png(seed))
        await media.retention.attach(f"appeal-{seed}", "busy", [media_id], AttachedAs.APPEAL)
        media.clock.advance(timedelta(minutes=5))

    with pytest.raises(MediaRejected) as caught:
        await media.flows.check_allowance("busy")
    assert caught.value.reason is Rejection.RATE_LIMITED
    assert caught.value.retry_after == 20 * 60  # when the first of the hour leaves the window
    media.clock.advance(timedelta(minutes=21))
    await media.flows.check_allowance("busy")


async def test_appeal_and_answer_claim_only_their_owners_files_once(media: Media) -> None:
    mine = await media.upload("author", corpus.phone_photo((40, 30)))
    theirs = await media.upload("someone-else", png())
    answer = await media.upload("operator-1", corpus.pdf())
    ids = [mine, theirs, "no-such-media"]

    assert await media.retention.attach("appeal-1", "author", ids, AttachedAs.APPEAL) == 1
    assert await media.retention.attach("appeal-1", "author", ids, AttachedAs.APPEAL) == 0  # replay
    assert await media.retention.attach("appeal-2", "author", ids, AttachedAs.APPEAL) == 0
    assert await media.retention.attach("appeal-1", "operator-1", [answer, mine], AttachedAs.ANSWER) == 1

    claimed, untouched, attached = [await media.flows.get(i) for i in (mine, theirs, answer)]
    assert claimed is not None and claimed.appeal_id == "appeal-1"
    assert claimed.location_hint is None  # the appeal has its own place now
    assert claimed.dedup_key is None
    assert untouched is not None and untouched.appeal_id is None
    assert attached is not None and (attached.appeal_id, attached.attached_as) == ("appeal-1", "answer")


async def test_orphan_sweep_removes_only_old_unclaimed_media(media: Media) -> None:
    old_orphan = await media.upload("author", png(1))
    old_claimed = await media.upload("author", png(2))
    old_answer = await media.upload("operator", png(3))
    reuploaded = await media.upload("author", png(4))
    await media.retention.attach("appeal-1", "author", [old_claimed], AttachedAs.APPEAL)
    await media.retention.attach("appeal-1", "operator", [old_answer], AttachedAs.ANSWER)
    media.clock.advance(timedelta(hours=47))
    await media.upload("author", png(4))  # the same file again: kept for another 48 h
    media.clock.advance(timedelta(hours=2))
    fresh = await media.upload("author", png(5))

    assert await media.retention.sweep_orphans(timedelta(hours=48)) == 1

    assert await media.flows.get(old_orphan) is None
    assert media.keys(old_orphan) == set()
    for kept in (old_claimed, old_answer, reuploaded, fresh):
        assert await media.flows.get(kept) is not None
        assert len(media.keys(kept)) == 3


async def test_removing_an_appeal_removes_all_its_files_and_late_claims(media: Media) -> None:
    photo = await media.upload("author", png(1))
    answer = await media.upload("operator", png(2))
    late = await media.upload("author", png(3))
    other = await media.upload("author", png(4))
    await media.retention.attach("appeal-1", "author", [photo], AttachedAs.APPEAL)
    await media.retention.attach("appeal-1", "operator", [answer], AttachedAs.ANSWER)
    await media.retention.attach("appeal-2", "author", [other], AttachedAs.APPEAL)

    assert await media.retention.delete_for_appeal("appeal-1") == 2
    assert await media.retention.delete_for_appeal("appeal-1") == 0  # safe to repeat
    # An event naming the removed appeal arrives late: its files go instead of being attached.
    assert await media.retention.attach("appeal-1", "author", [late], AttachedAs.APPEAL) == 0

    for gone in (photo, answer, late):
        assert await media.flows.get(gone) is None
        assert media.keys(gone) == set()
    assert await media.flows.get(other) is not None


async def test_only_attached_files_can_be_published(media: Media) -> None:
    media_id = await media.upload("operator", png())
    with pytest.raises(NotAttached):
        await media.flows.publish(media_id, True, "admin-1")
    await media.retention.attach("appeal-1", "operator", [media_id], AttachedAs.ANSWER)

    published = await media.flows.publish(media_id, True, "admin-1")
    assert published is not None and published.public and published.published_by == "admin-1"
    stored = await media.flows.get(media_id)
    assert stored is not None and stored.public and stored.published_at == media.clock()
    hidden = await media.flows.publish(media_id, False, "admin-1")
    assert hidden is not None and not hidden.public
    assert await media.flows.publish("missing", True, "admin-1") is None
