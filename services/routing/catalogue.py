"""The catalogue in routing's own store: seeded from the data file, versioned on every change.

Every change (a file load that changed something, an admin's edit) takes the next catalogue
version, stamps the changed document with it and leaves one entry in `catalogue_changes`. A routing
decision compiles the latest published version once and records its number in the assignment, so
a change applies to decisions made after it; appeals already assigned keep their organisation.
The published version is read at most once per `recheck_seconds` (a store round trip per appeal
otherwise); this process's own changes take effect at once, another replica's within that bound.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pymongo import ReturnDocument

from libs.common.clock import Clock
from libs.common.contracts.routing import CatalogueEntity
from libs.common.http import Problem
from libs.common.logging import get_logger
from libs.common.store import Database, Document
from services.routing.schemas import (
    Area,
    Catalogue,
    CatalogueFile,
    CatalogueInfo,
    GazetteerPlace,
    Organization,
    Rule,
    Topic,
)
from services.routing.service import CompiledCatalogue, validate

log = get_logger(__name__)

META = "catalogue_meta"
CHANGES = "catalogue_changes"
META_ID = "current"
REGION_FIELDS = ("region", "name", "default_organization", "timezone")


MODELS: dict[CatalogueEntity, type[BaseModel]] = {
    CatalogueEntity.ORGANIZATIONS: Organization,
    CatalogueEntity.TOPICS: Topic,
    CatalogueEntity.RULES: Rule,
    CatalogueEntity.AREAS: Area,
    CatalogueEntity.PLACES: GazetteerPlace,
}
KEYS = {
    CatalogueEntity.ORGANIZATIONS: "id",
    CatalogueEntity.TOPICS: "code",
    CatalogueEntity.RULES: "id",
    CatalogueEntity.AREAS: "id",
    CatalogueEntity.PLACES: "id",
}
DELETABLE = (CatalogueEntity.RULES, CatalogueEntity.PLACES)
# How long a version read from the store is trusted (seconds; `ROUTING_CATALOGUE_RECHECK_SECONDS`):
# other replicas' changes reach this one's decisions within it (docs/routing.md, "Versions").
RECHECK_SECONDS = 1.0


def read_catalogue_file(path: Path, dev: bool) -> tuple[CatalogueFile, str]:
    """The file and its areas GeoJSON, with dev-only topics dropped outside dev; plus a content hash."""
    raw = path.read_bytes()
    data = CatalogueFile.model_validate_json(raw)
    digest = hashlib.sha256(raw)
    areas = list(data.areas)
    if data.areas_file:
        areas_raw = (path.parent / data.areas_file).read_bytes()
        digest.update(areas_raw)
        features = json.loads(areas_raw)["features"]
        areas += [Area.model_validate({**f["properties"], "geometry": f["geometry"]}) for f in features]
    topics = [topic for topic in data.topics if dev or not topic.dev_only]
    digest.update(b"dev" if dev else b"production")
    return data.model_copy(update={"areas": areas, "topics": topics}), digest.hexdigest()


class CatalogueStore:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        dev: bool,
        recheck_seconds: float = RECHECK_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """`recheck_seconds`: how long `current` trusts the version it last read (0: read it on
        every call); `monotonic`: the clock that interval is measured on, in seconds."""
        self._db = db
        self._clock = clock
        self._dev = dev
        self._compiled: CompiledCatalogue | None = None
        self._lock = asyncio.Lock()
        self._recheck = recheck_seconds
        self._monotonic = monotonic
        self._checked_at: float | None = None  # when `_compiled` was last known to be the latest
        self._own_changes = 0  # this process's published changes, counted

    async def ensure_indexes(self) -> None:
        await self._db[CatalogueEntity.RULES].create_index("topic")

    # -- reading ------------------------------------------------------------------------------

    async def _meta(self) -> Document:
        return await self._db[META].find_one({"_id": META_ID}) or {}

    async def version(self) -> int:
        meta = await self._db[META].find_one({"_id": META_ID}, {"published": 1})
        return int(meta.get("published", 0)) if meta else 0

    async def snapshot(self) -> Catalogue:
        """The whole published catalogue (region, categories, organisations, topics, rules, areas,
        places, streets) with its version. Raises RuntimeError when no catalogue was loaded yet."""
        meta = await self._meta()
        if not meta.get("region"):
            raise RuntimeError("the catalogue has not been loaded yet")
        items = {
            entity.value: await self._db[entity]
            .find({}, {"_id": 0, "version": 0})
            .sort(KEYS[entity])
            .to_list(None)
            for entity in CatalogueEntity
        }
        return Catalogue.model_validate(
            {
                **{name: meta.get(name) for name in REGION_FIELDS},
                "version": int(meta.get("published", 0)),
                "categories": meta.get("categories", []),
                **items,
            }
        )

    def _fresh(self, now: float) -> CompiledCatalogue | None:
        """The compiled catalogue if its version was read less than `recheck_seconds` before `now`."""
        checked_at = self._checked_at
        if checked_at is not None and 0 <= now - checked_at < self._recheck:
            return self._compiled
        return None

    async def current(self) -> CompiledCatalogue:
        """The latest published version, compiled once per version (indexes, prepared polygons).
        The version is read from the store at most once per `recheck_seconds` (by one caller: the
        others wait for its answer); a change this process made is read at the next call. Raises
        RuntimeError when no catalogue was loaded yet."""
        if fresh := self._fresh(self._monotonic()):
            return fresh
        async with self._lock:
            started, changes = self._monotonic(), self._own_changes
            if fresh := self._fresh(started):
                return fresh  # read by another caller while this one waited
            version = await self.version()
            if self._compiled is None or self._compiled.version != version:
                self._compiled = CompiledCatalogue(await self.snapshot())
            # Fresh as of `started`, unless this process published a change meanwhile.
            if self._own_changes == changes:
                self._checked_at = started
            return self._compiled

    async def info(self) -> CatalogueInfo:
        meta = await self._meta()
        counts = {entity.value: await self._db[entity].count_documents({}) for entity in CatalogueEntity}
        return CatalogueInfo(
            **{name: meta.get(name) or "" for name in REGION_FIELDS},
            version=int(meta.get("published", 0)),
            categories=meta.get("categories", []),
            counts=counts,
            loaded_file_hash=meta.get("file_hash"),
            updated_at=meta.get("updated_at"),
        )

    async def items(self, entity: CatalogueEntity) -> list[Document]:
        return await self._db[entity].find({}, {"_id": 0}).sort(KEYS[entity]).to_list(None)

    async def item(self, entity: CatalogueEntity, item_id: str) -> Document:
        """One stored entry (without `_id`). Raises Problem 404 when the catalogue has none with
        this id."""
        doc = await self._db[entity].find_one({"_id": item_id}, {"_id": 0})
        if doc is None:
            raise Problem(404, f"no {entity.value[:-1]} {item_id!r} in the catalogue")
        return doc

    async def changes(self, limit: int, offset: int) -> list[Document]:
        cursor = self._db[CHANGES].find({}).sort("_id", -1).skip(offset).limit(limit)
        return [{**doc, "version": doc.pop("_id")} for doc in await cursor.to_list(limit)]

    # -- changing -----------------------------------------------------------------------------

    async def load_file(self, path: Path, *, force: bool = False, actor: str = "file") -> int:
        """Seed or update from the data file; the same file again changes nothing (same version).

        Returns the catalogue's version. Raises ValueError when the file's catalogue is not sound
        (`validate`) and it is forced or nothing is stored yet; otherwise an unsound changed file is
        logged and the stored catalogue stays."""
        data, digest = await asyncio.to_thread(read_catalogue_file, path, self._dev)
        meta = await self._meta()
        if not force and meta.get("file_hash") == digest:
            log.info("catalogue file unchanged", version=meta.get("published"))
            return int(meta.get("published", 0))
        merged = await self._merged_with_file(data)
        if problems := validate(merged):
            message = f"the catalogue in {path.name} is not usable: {'; '.join(problems[:10])}"
            if force or not meta.get("region"):
                raise ValueError(message)
            # A changed file that conflicts with admins' edits: keep serving the stored catalogue.
            log.error("catalogue file not applied; the stored catalogue stays", problems=problems[:10])
            return int(meta.get("published", 0))
        version = await self._allocate()
        for entity in CatalogueEntity:
            for item in getattr(data, entity.value):
                await self._write(entity, item, version)
        if not self._dev:
            await self._db[CatalogueEntity.TOPICS].delete_many({"dev_only": True})
        region = {name: getattr(data, name) for name in REGION_FIELDS}
        categories = [category.model_dump() for category in data.categories]
        await self._db[META].update_one(
            {"_id": META_ID}, {"$set": {**region, "categories": categories, "file_hash": digest}}
        )
        counts = {entity.value: len(getattr(data, entity.value)) for entity in CatalogueEntity}
        await self._record(
            version, actor, "catalogue", path.name, "load", None, {"file_hash": digest, **counts}
        )
        log.info("catalogue loaded", version=version, **counts)
        return version

    async def _merged_with_file(self, data: CatalogueFile) -> Catalogue:
        try:
            stored = await self.snapshot()
        except RuntimeError:
            stored = None
        merged: dict[str, Any] = {name: getattr(data, name) for name in REGION_FIELDS}
        merged["categories"] = data.categories
        for entity in CatalogueEntity:
            key = KEYS[entity]
            fresh = getattr(data, entity.value)
            ids = {getattr(item, key) for item in fresh}
            kept = [item for item in getattr(stored, entity.value, []) if getattr(item, key) not in ids]
            merged[entity.value] = kept + fresh
        return Catalogue.model_validate(merged)

    async def put(self, entity: CatalogueEntity, item_id: str, body: dict[str, Any], actor: str) -> Document:
        """Create or replace one organisation / topic / rule / area, if the catalogue stays sound.

        Raises Problem 422 when the body's key differs from the path's, the item does not validate,
        or the catalogue would not be sound with it."""
        key = KEYS[entity]
        if body.get(key, item_id) != item_id:
            raise Problem(422, f"the body's {key} {body.get(key)!r} differs from the path's {item_id!r}")
        try:
            item = MODELS[entity].model_validate({**body, key: item_id})
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            where = ".".join(str(part) for part in errors[0]["loc"])
            raise Problem(422, f"{where}: {errors[0]['msg']}", errors=json.loads(exc.json())) from exc
        snapshot = await self.snapshot()
        others = [x for x in getattr(snapshot, entity.value) if getattr(x, key) != item_id]
        if problems := validate(snapshot.model_copy(update={entity.value: [*others, item]})):
            raise Problem(422, "; ".join(problems[:5]), problems=problems)
        return await self._change(entity, item_id, item, actor)

    async def delete(self, entity: CatalogueEntity, item_id: str, actor: str) -> Document:
        """Delete one entry (of the `DELETABLE` kinds), recorded in the audit. Raises Problem 405
        for kinds that are retired with `active=false` instead, 404 for an unknown id, 422 when the
        catalogue would not be sound without it (a place some street names)."""
        if entity not in DELETABLE:
            raise Problem(405, f"{entity.value} are not deleted: set active=false to retire one")
        await self.item(entity, item_id)
        if entity is CatalogueEntity.PLACES:  # a settlement goes only once no street names it
            snapshot = await self.snapshot()
            kept = [place for place in snapshot.places if place.id != item_id]
            if problems := validate(snapshot.model_copy(update={"places": kept})):
                raise Problem(422, "; ".join(problems[:5]), problems=problems)
        return await self._change(entity, item_id, None, actor)

    async def _change(
        self, entity: CatalogueEntity, item_id: str, item: BaseModel | None, actor: str
    ) -> Document:
        before = await self._db[entity].find_one({"_id": item_id}, {"_id": 0, "version": 0})
        version = await self._allocate()
        if item is None:
            await self._db[entity].delete_one({"_id": item_id})
        else:
            await self._write(entity, item, version)
        after = item.model_dump(mode="json") if item else None
        action = "delete" if item is None else "update" if before else "create"
        await self._record(version, actor, entity.value[:-1], item_id, action, before, after)
        log.info("catalogue changed", version=version, entity=entity.value, item=item_id, action=action)
        return {"version": version, "action": action, "item": after}

    async def _write(self, entity: CatalogueEntity, item: BaseModel, version: int) -> None:
        item_id = getattr(item, KEYS[entity])
        doc = {**item.model_dump(mode="json"), "_id": item_id, "version": version}
        await self._db[entity].replace_one({"_id": item_id}, doc, upsert=True)

    async def _allocate(self) -> int:
        meta = await self._db[META].find_one_and_update(
            {"_id": META_ID}, {"$inc": {"version": 1}}, upsert=True, return_document=ReturnDocument.AFTER
        )
        assert meta is not None  # upsert with ReturnDocument.AFTER always returns the document
        return int(meta["version"])

    async def _record(
        self,
        version: int,
        actor: str,
        entity: str,
        entity_id: str,
        action: str,
        before: Document | None,
        after: Document | None,
    ) -> None:
        now = self._clock()
        await self._db[CHANGES].insert_one(
            {
                "_id": version,
                "at": now,
                "actor": actor,
                "entity": entity,
                "entity_id": entity_id,
                "action": action,
                "before": before,
                "after": after,
            }
        )
        # Published last: a decision compiles a version only once all of its writes are stored.
        await self._db[META].update_one(
            {"_id": META_ID}, {"$max": {"published": version}, "$set": {"updated_at": now}}
        )
        # This process's own change: the next decision reads the version again.
        self._own_changes += 1
        self._checked_at = None
