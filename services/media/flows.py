"""Media use cases: check the owner's allowance, clean and store an upload (once per identical
file), describe it, sign a link, publish it. Attaching and removing are in `retention`."""

from __future__ import annotations

import asyncio
import contextlib
import io
import math
import uuid
from datetime import timedelta
from typing import Any, BinaryIO

from prometheus_client import Counter
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from libs.common.clock import Clock
from libs.common.contracts.media import Allowance, ContentType, MediaLink, Rejection, Variant
from libs.common.logging import get_logger
from libs.common.store import Database
from services.media.rules import CleanMedia, Limits, MediaRejected
from services.media.schemas import MediaDoc, MediaStep, StoredObject, next_media_state
from services.media.service import clean_upload, digest
from services.media.settings import MediaSettings
from services.media.storage import ObjectStore

log = get_logger(__name__)

MEDIA = "media"
HOUR = timedelta(hours=1)
REJECTED = Counter("appeals_media_rejected_total", "Uploads refused, by rule", ["reason"])
STORED = Counter("appeals_media_stored_total", "Uploads stored, by type", ["content_type"])
DEDUPLICATED = Counter("appeals_media_deduplicated_total", "Uploads answered with an identical stored file")
EXTENSIONS = {
    ContentType.JPEG: "jpg",
    ContentType.PNG: "png",
    ContentType.WEBP: "webp",
    ContentType.PDF: "pdf",
    ContentType.MP4: "mp4",
    ContentType.QUICKTIME: "mov",
}


class VariantMissing(LookupError):
    pass


class NotAttached(Exception):
    pass


def object_key(media_id: str, variant: Variant) -> str:
    """The object's key in the bucket: `media/<id>/<variant>`."""
    return f"media/{media_id}/{variant}"


def limits_of(settings: MediaSettings) -> Limits:
    """The cleaning limits from the settings (bytes, pixels, video bytes and seconds, rendition
    sizes in pixels)."""
    return Limits(
        max_bytes=settings.max_upload_bytes,
        max_pixels=settings.max_image_pixels,
        max_video_bytes=settings.max_video_bytes,
        max_video_seconds=settings.max_video_seconds,
        thumb_px=settings.thumb_px,
        web_px=settings.web_px,
    )


class MediaFlows:
    def __init__(self, db: Database, objects: ObjectStore, settings: MediaSettings, clock: Clock) -> None:
        self._media = db[MEDIA]
        self._objects = objects
        self._settings = settings
        self._clock = clock
        self._limits = limits_of(settings)
        self._cleaning = asyncio.Semaphore(settings.max_concurrent_cleaning)

    async def ensure_indexes(self) -> None:
        """Indexes of the allowance counts (owner by time, owner's unattached), the orphan sweep
        (unattached by `touched_at`) and the unique, sparse `dedup_key`."""
        await self._media.create_index([("owner_id", 1), ("created_at", 1)])
        await self._media.create_index([("owner_id", 1), ("appeal_id", 1)])
        await self._media.create_index([("appeal_id", 1), ("touched_at", 1)])
        await self._media.create_index("dedup_key", unique=True, sparse=True)

    # -- the owner's allowance --------------------------------------------------------------

    async def allowance(self, owner_id: str) -> Allowance:
        """The owner's unattached uploads and uploads of the last hour, with their maximums
        (`MEDIA_MAX_PENDING_PER_OWNER`, `MEDIA_MAX_UPLOADS_PER_HOUR`)."""
        since = self._clock() - HOUR
        return Allowance(
            pending=await self._media.count_documents({"owner_id": owner_id, "appeal_id": None}),
            max_pending=self._settings.max_pending_per_owner,
            last_hour=await self._media.count_documents(
                {"owner_id": owner_id, "created_at": {"$gte": since}}
            ),
            max_per_hour=self._settings.max_uploads_per_hour,
        )

    async def check_allowance(self, owner_id: str) -> None:
        """Refuse before reading any byte when the owner has too many pending or recent uploads.

        Raises MediaRejected `too_many_files` (pending uploads at the owner's maximum) or
        `rate_limited` (hourly maximum reached; `retry_after` in seconds until the oldest upload of
        the hour ages out)."""
        allowed = await self.allowance(owner_id)
        if allowed.pending >= allowed.max_pending:
            retention = self._settings.orphan_retention_hours
            raise self._refused(
                MediaRejected(
                    Rejection.TOO_MANY_FILES,
                    f"too many files: you have {allowed.pending} uploads not attached to any appeal "
                    f"(at most {allowed.max_pending}); submit them with an appeal"
                    + (
                        f" or wait: unused uploads are removed after {retention:g} hours" if retention else ""
                    ),
                )
            )
        if allowed.last_hour >= allowed.max_per_hour:
            since = self._clock() - HOUR
            oldest = await (
                self._media.find({"owner_id": owner_id, "created_at": {"$gte": since}}, {"created_at": 1})
                .sort("created_at", 1)
                .limit(1)
                .to_list(1)
            )
            wait = (oldest[0]["created_at"] - since).total_seconds() if oldest else HOUR.total_seconds()
            raise self._refused(
                MediaRejected(
                    Rejection.RATE_LIMITED,
                    f"too many uploads: at most {allowed.max_per_hour} per hour; try again later",
                    retry_after=max(1, math.ceil(wait)),
                )
            )

    # -- upload -----------------------------------------------------------------------------

    async def upload(self, owner_id: str, source: BinaryIO) -> tuple[MediaDoc, bool]:
        """Clean and store an upload. Returns (media, deduplicated): an identical file of the same
        owner that is not attached yet is answered instead of being stored again.

        Raises MediaRejected when cleaning refuses the file (type, size, pixels, duration, corrupt,
        active content)."""
        source_sha256, _ = await asyncio.to_thread(digest, source)
        if existing := await self._touch_duplicate(owner_id, source_sha256):
            DEDUPLICATED.inc()
            return existing, True
        try:
            async with self._cleaning:  # decoding is CPU and memory: a few at a time, off the loop
                clean = await asyncio.to_thread(clean_upload, source, self._limits)
        except MediaRejected as exc:
            raise self._refused(exc) from exc
        media_id = uuid.uuid4().hex
        objects = await self._store_objects(media_id, clean, source)
        now = self._clock()
        doc = MediaDoc(
            id=media_id,
            owner_id=owner_id,
            content_type=clean.content_type,
            size=clean.size,
            sha256=clean.sha256,
            source_sha256=source_sha256,
            created_at=now,
            touched_at=now,
            objects=objects,
            width=clean.width,
            height=clean.height,
            duration_seconds=clean.duration_seconds,
            location_hint=clean.location_hint,
            dedup_key=f"{owner_id}:{source_sha256}",
        )
        try:
            await self._media.insert_one(doc.to_document())
        except DuplicateKeyError:
            # The same file arrived twice at once: keep the first, drop what this one stored.
            if existing := await self._touch_duplicate(owner_id, source_sha256):
                await self.remove_objects(doc.model_dump())
                return existing, True
            doc.dedup_key = None  # the other one was attached meanwhile: this is a new file
            await self._media.insert_one(doc.to_document())
        STORED.labels(clean.content_type).inc()
        log.info("media stored", media_id=media_id, content_type=str(clean.content_type), size=clean.size)
        return doc, False

    def _refused(self, exc: MediaRejected) -> MediaRejected:
        REJECTED.labels(str(exc.reason)).inc()
        log.info("upload refused", reason=str(exc.reason))
        return exc

    async def _touch_duplicate(self, owner_id: str, source_sha256: str) -> MediaDoc | None:
        """The owner's unattached identical upload, its retention clock restarted (atomically, so
        the orphan sweep cannot remove it under the caller)."""
        found = await self._media.find_one_and_update(
            {"dedup_key": f"{owner_id}:{source_sha256}", "appeal_id": None},
            {"$set": {"touched_at": self._clock()}},
            return_document=ReturnDocument.AFTER,
        )
        return MediaDoc.model_validate(found) if found else None

    async def _store_objects(
        self, media_id: str, clean: CleanMedia, source: BinaryIO
    ) -> dict[Variant, StoredObject]:
        # Objects first: a crash before the record leaves an unreferenced object, never a dangling record.
        stored: dict[Variant, StoredObject] = {}
        try:
            for rendition in clean.renditions:
                key = object_key(media_id, rendition.variant)
                body = io.BytesIO(rendition.data) if rendition.data is not None else source
                await self._objects.put(key, body, rendition.size, rendition.content_type)
                stored[rendition.variant] = StoredObject(
                    key=key,
                    content_type=rendition.content_type,
                    size=rendition.size,
                    width=rendition.width,
                    height=rendition.height,
                )
        except Exception:
            with contextlib.suppress(Exception):  # the store failed: do not leave half a file behind
                for done in stored.values():
                    await self._objects.delete(done.key)
            raise
        return stored

    async def remove_objects(self, doc: dict[str, Any]) -> None:
        """Delete every stored object (variant) of the media document from the bucket."""
        for stored in (doc.get("objects") or {}).values():
            await self._objects.delete(stored["key"])

    # -- read, link, publish ----------------------------------------------------------------

    async def get(self, media_id: str) -> MediaDoc | None:
        """The file's record, None if unknown."""
        found = await self._media.find_one({"_id": media_id})
        return MediaDoc.model_validate(found) if found else None

    async def link(self, media_id: str, variant: Variant = Variant.ORIGINAL) -> MediaLink | None:
        """A presigned GET link to one variant (`MEDIA_LINK_TTL_SECONDS` seconds valid; inline for
        images, an attachment otherwise), or None for an unknown file. Raises VariantMissing when
        the file has no such variant (e.g. a video's thumbnail)."""
        doc = await self.get(media_id)
        if doc is None:
            return None
        stored = doc.objects.get(variant)
        if stored is None:
            raise VariantMissing(f"file {media_id} has no {variant} variant (only: {', '.join(doc.objects)})")
        content_type = ContentType(stored.content_type)
        # Only pictures are shown inline; documents and videos are always downloads.
        kind = "inline" if content_type.is_image else "attachment"
        filename = f"{media_id}-{variant}.{EXTENSIONS[content_type]}"
        ttl = self._settings.link_ttl_seconds
        url = await self._objects.presigned_get(
            stored.key,
            timedelta(seconds=ttl),
            content_type=str(content_type),
            disposition=f'{kind}; filename="{filename}"',
        )
        return MediaLink(url=url, expires_in=ttl, variant=variant)

    async def publish(self, media_id: str, public: bool, by: str) -> MediaDoc | None:
        """Make a file visible to anyone (an admin publishing an answer), or private again.
        Returns None for an unknown file; raises `NotAttached` for a draft (`MEDIA_TRANSITIONS`)."""
        doc = await self.get(media_id)
        if doc is None:
            return None
        step = MediaStep.PUBLISH if public else MediaStep.UNPUBLISH
        if next_media_state(doc.state, step) is None:  # publishing a draft
            raise NotAttached(f"file {media_id} is not attached to any appeal or answer yet")
        now = self._clock()
        changes = {"public": public, "published_at": now if public else None, "published_by": by}
        await self._media.update_one({"_id": media_id}, {"$set": changes})
        log.info("media visibility changed", media_id=media_id, public=public)
        return doc.model_copy(update=changes)
