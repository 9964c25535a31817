"""Media use cases: clean and store an upload, describe it, sign a link, attach it to an appeal."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from prometheus_client import Counter

from libs.common.clock import Clock
from libs.common.events import AppealSubmittedV1
from libs.common.logging import get_logger
from libs.common.store import Database
from services.media.schemas import MediaDoc, MediaLink
from services.media.service import MediaRejected, clean_upload
from services.media.settings import MediaSettings
from services.media.storage import ObjectStore

log = get_logger(__name__)

MEDIA = "media"
REJECTED = Counter("appeals_media_rejected_total", "Uploads refused, by rule", ["reason"])
STORED = Counter("appeals_media_stored_total", "Uploads stored, by type", ["content_type"])


def object_key(media_id: str) -> str:
    return f"media/{media_id}"


class MediaFlows:
    def __init__(self, db: Database, objects: ObjectStore, settings: MediaSettings, clock: Clock) -> None:
        self._media = db[MEDIA]
        self._objects = objects
        self._settings = settings
        self._clock = clock

    async def ensure_indexes(self) -> None:
        await self._media.create_index("owner_id")
        await self._media.create_index([("appeal_id", 1), ("created_at", 1)])

    async def upload(self, owner_id: str, raw: bytes) -> MediaDoc:
        try:
            # Decoding and re-encoding is CPU work: keep it off the event loop.
            clean = await asyncio.to_thread(
                clean_upload,
                raw,
                max_bytes=self._settings.max_upload_bytes,
                max_pixels=self._settings.max_image_pixels,
            )
        except MediaRejected as exc:
            REJECTED.labels(exc.reason).inc()
            log.info("upload rejected", reason=exc.reason, size=len(raw))
            raise
        media_id = uuid.uuid4().hex
        doc = MediaDoc(
            id=media_id,
            owner_id=owner_id,
            content_type=clean.content_type,
            size=clean.size,
            sha256=clean.sha256,
            object_key=object_key(media_id),
            created_at=self._clock(),
            width=clean.width,
            height=clean.height,
        )
        # Object first: a crash in between leaves an unreferenced object, never a dangling record.
        await self._objects.put(doc.object_key, clean.data, clean.content_type)
        await self._media.insert_one(doc.to_document())
        STORED.labels(clean.content_type).inc()
        log.info("media stored", media_id=media_id, content_type=clean.content_type, size=clean.size)
        return doc

    async def get(self, media_id: str) -> MediaDoc | None:
        found = await self._media.find_one({"_id": media_id})
        return MediaDoc.model_validate(found) if found else None

    async def link(self, media_id: str) -> MediaLink | None:
        doc = await self.get(media_id)
        if doc is None:
            return None
        ttl = self._settings.link_ttl_seconds
        url = await self._objects.presigned_get(doc.object_key, timedelta(seconds=ttl))
        return MediaLink(url=url, expires_in=ttl)

    async def attach_to_appeal(self, appeal: AppealSubmittedV1) -> int:
        """Idempotent: only the author's still-unattached media change, so a replay changes nothing."""
        if not appeal.media_ids:
            return 0
        result = await self._media.update_many(
            {"_id": {"$in": appeal.media_ids}, "owner_id": appeal.author_id, "appeal_id": None},
            {"$set": {"appeal_id": appeal.appeal_id}},
        )
        attached = int(result.modified_count)
        if attached < len(appeal.media_ids):
            log.info("some media not attached", attached=attached, named=len(appeal.media_ids))
        return attached

    async def sweep_orphans(self, retention: timedelta, batch: int = 200) -> int:
        """Delete media that no appeal claimed within `retention`: uploads of abandoned drafts."""
        cutoff = self._clock() - retention
        stale = self._media.find({"appeal_id": None, "created_at": {"$lt": cutoff}}, {"object_key": 1})
        removed = 0
        for candidate in await stale.limit(batch).to_list(None):
            # The record goes first and only while still unclaimed: an appeal can no longer attach
            # it after this, so no appeal ever points at a deleted object.
            gone = await self._media.find_one_and_delete({"_id": candidate["_id"], "appeal_id": None})
            if gone is None:
                continue
            try:
                await self._objects.delete(gone["object_key"])
            except Exception as exc:
                log.warning(
                    "orphan object not deleted", object_key=gone["object_key"], error=type(exc).__name__
                )
            removed += 1
        if removed:
            log.info("orphan media removed", count=removed)
        return removed
