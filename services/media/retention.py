"""How long media lives: attached by the events that name it, removed with its appeal, swept
when nobody claimed it within the retention period."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from libs.common.clock import Clock
from libs.common.contracts.media import AttachedAs
from libs.common.logging import get_logger
from libs.common.store import Database, Document
from services.media.flows import MEDIA, MediaFlows

log = get_logger(__name__)

DELETED_APPEALS = "deleted_appeals"
TOMBSTONE_DAYS = 90


class Retention:
    def __init__(self, db: Database, flows: MediaFlows, clock: Clock) -> None:
        self._media = db[MEDIA]
        self._tombstones = db[DELETED_APPEALS]
        self._flows = flows
        self._clock = clock

    async def ensure_indexes(self) -> None:
        # A deleted appeal is remembered long enough for any late event naming it.
        await self._tombstones.create_index(
            "deleted_at", expireAfterSeconds=int(timedelta(days=TOMBSTONE_DAYS).total_seconds())
        )

    async def attach(self, appeal_id: str, owner_id: str, media_ids: list[str], kind: AttachedAs) -> int:
        """Claim the owner's still-unattached media for an appeal. Idempotent: a replay, or
        another appeal naming the same files, changes nothing. The private location hint and the
        deduplication key go: the appeal has its own place, and the file is no longer a draft."""
        if not media_ids:
            return 0
        if await self._deleted(appeal_id):
            return await self._drop_unclaimed(owner_id, media_ids)
        result = await self._media.update_many(
            {"_id": {"$in": media_ids}, "owner_id": owner_id, "appeal_id": None},
            {
                "$set": {"appeal_id": appeal_id, "attached_as": str(kind)},
                "$unset": {"location_hint": "", "dedup_key": ""},
            },
        )
        attached = int(result.modified_count)
        if attached < len(media_ids):
            log.info("some media not attached", attached=attached, named=len(media_ids), kind=str(kind))
        if await self._deleted(appeal_id):  # removed while we attached: finish the removal
            await self.delete_for_appeal(appeal_id)
            return 0
        return attached

    async def delete_for_appeal(self, appeal_id: str) -> int:
        """Remove every file of an appeal (the citizen's and the answers'), all variants.

        Retry-safe: objects go before their record, so a failure leaves the record for the next
        call; the appeal is remembered so that a late event cannot attach files to it again.
        """
        await self._tombstones.update_one(
            {"_id": appeal_id}, {"$setOnInsert": {"deleted_at": self._clock()}}, upsert=True
        )
        removed = 0
        for doc in await self._media.find({"appeal_id": appeal_id}).to_list(None):
            await self._flows.remove_objects(doc)
            removed += int((await self._media.delete_one({"_id": doc["_id"]})).deleted_count)
        if removed:
            log.info("media of a deleted appeal removed", count=removed)
        return removed

    async def sweep_orphans(self, retention: timedelta, batch: int = 200) -> int:
        """Delete uploads no appeal or answer claimed within `retention` (abandoned drafts)."""
        cutoff = self._clock() - retention
        unclaimed: dict[str, Any] = {"appeal_id": None, "touched_at": {"$lt": cutoff}}
        stale = await self._media.find(unclaimed, {"_id": 1}).limit(batch).to_list(None)
        removed = 0
        for candidate in stale:
            # The record goes first and only while still unclaimed and untouched: an appeal can
            # no longer attach it after this, so no appeal ever points at a deleted object.
            gone = await self._media.find_one_and_delete({"_id": candidate["_id"], **unclaimed})
            if gone is not None:
                await self._remove_quietly(gone)
                removed += 1
        if removed:
            log.info("orphan media removed", count=removed)
        return removed

    async def _deleted(self, appeal_id: str) -> bool:
        return await self._tombstones.count_documents({"_id": appeal_id}, limit=1) > 0

    async def _drop_unclaimed(self, owner_id: str, media_ids: list[str]) -> int:
        query = {"_id": {"$in": media_ids}, "owner_id": owner_id, "appeal_id": None}
        for doc in await self._media.find(query).to_list(None):
            if gone := await self._media.find_one_and_delete({"_id": doc["_id"], "appeal_id": None}):
                await self._remove_quietly(gone)
        return 0

    async def _remove_quietly(self, doc: Document) -> None:
        try:
            await self._flows.remove_objects(doc)
        except Exception as exc:  # the record is gone: an unreferenced object at worst
            log.warning("media object not deleted", media_id=doc["_id"], error=type(exc).__name__)
