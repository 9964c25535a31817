"""An in-memory store for the deadlines benchmark that has the indexes MongoDB would use.

The platform's stand-in (mongomock) answers every query by scanning all documents, even an
`_id` lookup: with a million timers one claim takes seconds, which measures mongomock, not the
scheduler. This store keeps what a MongoDB deployment has: documents by `_id`, the sparse
`next_due_at` index (a heap with lazy deletion) and the sparse `outbox.id` index (a set). Matching
is mongomock's own, one document at a time; the top-level update operators the flows use are
applied natively, copy-on-write (a stored document is never changed in place, so reads hand out
shallow copies), anything else through mongomock on a scratch copy.
"""

from __future__ import annotations

import copy
import heapq
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import mongomock
from mongomock.filtering import filter_applies
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

Doc = dict[str, Any]
DUE = "next_due_at"


@dataclass
class UpdateResult:
    matched_count: int
    modified_count: int


class Cursor:
    def __init__(self, docs: list[Doc]) -> None:
        self._docs = docs

    def sort(self, key: str, direction: int = 1) -> Cursor:
        self._docs.sort(key=lambda doc: doc.get(key) or datetime.max, reverse=direction < 0)
        return self

    def limit(self, count: int) -> Cursor:
        self._docs = self._docs[:count] if count else self._docs
        return self

    async def to_list(self, length: int | None = None) -> list[Doc]:
        return self._docs if length is None else self._docs[:length]

    def __aiter__(self) -> Any:
        return self._iterate()

    async def _iterate(self) -> Any:
        for doc in self._docs:
            yield doc


def _push(doc: Doc, key: str, value: Any) -> None:
    items = value["$each"] if isinstance(value, dict) and "$each" in value else [value]
    doc[key] = [*doc.get(key, []), *items]


def _pull(doc: Doc, key: str, condition: Any) -> None:
    keep = [
        item
        for item in doc.get(key, [])
        if not (filter_applies(condition, item) if isinstance(condition, dict) else item == condition)
    ]
    doc[key] = keep


def _add_to_set(doc: Doc, key: str, value: Any) -> None:
    if value not in doc.get(key, []):
        doc[key] = [*doc.get(key, []), value]


# The top-level update operators the deadlines flows and the outbox relay use.
NATIVE: dict[str, Any] = {
    "$set": lambda doc, key, value: doc.__setitem__(key, value),
    "$unset": lambda doc, key, value: doc.pop(key, None),
    "$inc": lambda doc, key, value: doc.__setitem__(key, doc.get(key, 0) + value),
    "$push": _push,
    "$pull": _pull,
    "$addToSet": _add_to_set,
}


class IndexedCollection:
    def __init__(self, name: str) -> None:
        self.name = name
        self._docs: dict[Any, Doc] = {}
        self._due: list[tuple[datetime, str]] = []
        self._outbox: set[Any] = set()
        self._scratch = mongomock.MongoClient(tz_aware=True)["scratch"][name]

    def __len__(self) -> int:
        return len(self._docs)

    # -- indexes ---------------------------------------------------------------------------

    def _index(self, doc: Doc, before: Doc | None = None) -> None:
        due = doc.get(DUE)
        if due is not None and (before is None or before.get(DUE) != due):
            heapq.heappush(self._due, (due, doc["_id"]))
        if doc.get("outbox"):
            self._outbox.add(doc["_id"])
        else:
            self._outbox.discard(doc["_id"])

    def _due_candidates(self, bound: datetime, limit: int, query: Doc) -> list[Doc]:
        """Walk the due index in order up to `bound`, dropping stale entries, keeping the rest."""
        taken: list[tuple[datetime, str]] = []
        found: list[Doc] = []
        while self._due and self._due[0][0] <= bound and len(found) < limit:
            due, doc_id = heapq.heappop(self._due)
            doc = self._docs.get(doc_id)
            if doc is None or doc.get(DUE) != due:
                continue  # a stale index entry: the document moved on
            taken.append((due, doc_id))
            if filter_applies(query, doc):
                found.append(doc)
        for entry in taken:
            heapq.heappush(self._due, entry)
        return found

    def _matching(self, query: Doc, limit: int = 0) -> list[Doc]:
        doc_id = query.get("_id")
        if doc_id is not None and not isinstance(doc_id, dict):
            doc = self._docs.get(doc_id)
            return [doc] if doc is not None and filter_applies(query, doc) else []
        due = query.get(DUE)
        if isinstance(due, dict) and set(due) == {"$lte"}:
            return self._due_candidates(due["$lte"], limit or len(self._docs), query)
        if set(query) == {"outbox.id"}:
            return [self._docs[i] for i in list(self._outbox) if filter_applies(query, self._docs[i])]
        return [doc for doc in self._docs.values() if filter_applies(query, doc)]  # unindexed: a scan

    # -- the async API the services use ----------------------------------------------------

    async def create_index(self, *args: Any, **kwargs: Any) -> str:
        return "indexed"

    def bulk_load(self, docs: list[Doc]) -> None:
        """Arming in bulk, as a restore from a backup would: no copies, index as we go."""
        for doc in docs:
            if doc["_id"] in self._docs:
                raise DuplicateKeyError(f"duplicate _id {doc['_id']}")
            self._docs[doc["_id"]] = doc
            self._index(doc)

    async def insert_many(self, docs: list[Doc], **kwargs: Any) -> None:
        self.bulk_load([copy.deepcopy(doc) for doc in docs])

    async def insert_one(self, doc: Doc, **kwargs: Any) -> None:
        self.bulk_load([copy.deepcopy(doc)])

    def find(self, query: Doc | None = None, projection: Any = None) -> Cursor:
        return Cursor([dict(doc) for doc in self._matching(query or {})])

    async def find_one(self, query: Doc | None = None, projection: Any = None) -> Doc | None:
        found = self._matching(query or {}, limit=1)
        return dict(found[0]) if found else None

    def _apply(self, doc: Doc, update: Doc) -> Doc:
        """Copy-on-write: a new top level, so documents already handed out never change."""
        if set(update) <= set(NATIVE) and all("." not in key for op in update.values() for key in op):
            updated = dict(doc)
            for operator, fields in update.items():
                for key, value in fields.items():
                    NATIVE[operator](updated, key, copy.deepcopy(value))
        else:  # anything else: mongomock's operators on a scratch copy
            self._scratch.insert_one(doc)
            self._scratch.update_one({"_id": doc["_id"]}, update)
            updated = self._scratch.find_one_and_delete({"_id": doc["_id"]})
        self._docs[doc["_id"]] = updated
        self._index(updated, before=doc)
        return updated

    async def update_one(self, query: Doc, update: Doc, **kwargs: Any) -> UpdateResult:
        found = self._matching(query, limit=1)
        if not found:
            return UpdateResult(0, 0)
        self._apply(found[0], update)
        return UpdateResult(1, 1)

    async def find_one_and_update(
        self, query: Doc, update: Doc, return_document: bool = ReturnDocument.BEFORE, **kwargs: Any
    ) -> Doc | None:
        found = self._matching(query, limit=1)
        if not found:
            return None
        before = found[0]
        after = self._apply(before, update)
        return dict(after if return_document == ReturnDocument.AFTER else before)


class IndexedDatabase:
    def __init__(self, name: str = "bench") -> None:
        self.name = name
        self._collections: dict[str, IndexedCollection] = {}

    def __getitem__(self, name: str) -> IndexedCollection:
        if name not in self._collections:
            self._collections[name] = IndexedCollection(name)
        return self._collections[name]

    async def command(self, name: str, *args: Any, **kwargs: Any) -> Doc:
        return {"ok": 1.0}
