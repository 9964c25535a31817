"""Store factory: a MongoDB wire-protocol server through PyMongo's asyncio API, or a unit-test fake.

Every running service reaches its store over the wire (`MONGO_URL`): MongoDB (a replica set) in
deployment, the local store process (`devstack/docstore.py`, mongoeco over SQLite) everywhere
else. Without `MONGO_URL` (dev mode only: settings refuse it in production) the store is an
in-process fake for unit tests: mongomock behind the same async method names as
`pymongo.AsyncCollection`, for the subset the services use, corrected where mongomock departs
from MongoDB's documented behaviour. Each call runs to completion without yielding, so every
single-document operation is atomic, as it is on MongoDB. It keeps nothing across restarts. Both
pass the conformance suite (`tests/store/`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

import mongomock
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from libs.common.logging import get_logger

Document = dict[str, Any]
Database = AsyncDatabase[Document]

log = get_logger(__name__)

PING_TIMEOUT_SECONDS = 2.0
SERVER_SELECTION_TIMEOUT_MS = 10_000

_ASYNC_METHODS = frozenset(
    {
        "insert_one",
        "insert_many",
        "find_one",
        "find_one_and_update",
        "find_one_and_delete",
        "update_one",
        "update_many",
        "replace_one",
        "delete_one",
        "delete_many",
        "count_documents",
        "create_index",
        "drop",
        "distinct",
    }
)


_UPDATE_METHODS = frozenset({"update_one", "update_many", "find_one_and_update"})


def _dedupe_add_to_set(update: Any) -> Any:
    """MongoDB adds each `$addToSet: {f: {$each: [...]}}` value once, duplicates inside the list
    included ("$addToSet", MongoDB manual); mongomock keeps those duplicates."""
    if not isinstance(update, dict) or not isinstance(update.get("$addToSet"), dict):
        return update
    fields = {}
    for name, value in update["$addToSet"].items():
        if isinstance(value, dict) and isinstance(value.get("$each"), list):
            unique: list[Any] = []
            for item in value["$each"]:
                if item not in unique:
                    unique.append(item)
            value = {**value, "$each": unique}
        fields[name] = value
    return {**update, "$addToSet": fields}


class InMemoryCursor:
    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def sort(self, *args: Any, **kwargs: Any) -> InMemoryCursor:
        self._cursor = self._cursor.sort(*args, **kwargs)
        return self

    def skip(self, count: int) -> InMemoryCursor:
        self._cursor = self._cursor.skip(count)
        return self

    def limit(self, count: int) -> InMemoryCursor:
        self._cursor = self._cursor.limit(count)
        return self

    async def to_list(self, length: int | None = None) -> list[Document]:
        docs = list(self._cursor)
        return docs if length is None else docs[:length]

    def __aiter__(self) -> AsyncIterator[Document]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Document]:
        for doc in self._cursor:
            yield doc


class InMemoryCollection:
    def __init__(self, collection: Any) -> None:
        self._collection = collection
        self.name: str = collection.name

    def find(self, *args: Any, **kwargs: Any) -> InMemoryCursor:
        return InMemoryCursor(self._collection.find(*args, **kwargs))

    async def aggregate(self, pipeline: list[Document], **kwargs: Any) -> InMemoryCursor:
        """Awaited first, as PyMongo's AsyncCollection.aggregate is."""
        kwargs.pop("session", None)
        return InMemoryCursor(self._collection.aggregate(pipeline, **kwargs))

    def __getattr__(self, name: str) -> Any:
        if name not in _ASYNC_METHODS:
            raise AttributeError(f"the in-memory store does not offer {name!r}")
        method = getattr(self._collection, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            kwargs.pop("session", None)
            if name in _UPDATE_METHODS and len(args) > 1:
                args = (args[0], _dedupe_add_to_set(args[1]), *args[2:])
            return method(*args, **kwargs)

        return call


class InMemoryDatabase:
    def __init__(self, database: Any) -> None:
        self._database = database
        self.name: str = database.name

    def __getitem__(self, name: str) -> InMemoryCollection:
        return InMemoryCollection(self._database[name])

    def get_collection(self, name: str) -> InMemoryCollection:
        return self[name]

    async def command(self, name: str, *args: Any, **kwargs: Any) -> Document:
        if name != "ping":
            raise NotImplementedError(f"the in-memory store does not run {name!r}")
        return {"ok": 1.0}


class Store:
    """Owns the client; `db` is the service's own database."""

    def __init__(self, db: Database, client: AsyncMongoClient[Document] | None) -> None:
        self.db = db
        self._client = client

    @property
    def durable(self) -> bool:
        return self._client is not None

    async def ping(self) -> bool:
        # Bounded, so a readiness probe answers in time even when MongoDB does not.
        await asyncio.wait_for(self.db.command("ping"), timeout=PING_TIMEOUT_SECONDS)
        return True

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()


def open_store(mongo_url: str | None, database: str) -> Store:
    if mongo_url:
        client: AsyncMongoClient[Document] = AsyncMongoClient(
            mongo_url, tz_aware=True, serverSelectionTimeoutMS=SERVER_SELECTION_TIMEOUT_MS
        )
        return Store(client[database], client)
    log.warning(
        "MONGO_URL is not set: using the in-process unit-test store; NOTHING IS DURABLE",
        database=database,
    )
    memory: Any = mongomock.MongoClient(tz_aware=True)[database]
    return Store(cast(Database, InMemoryDatabase(memory)), None)
