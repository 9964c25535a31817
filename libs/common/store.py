"""Store factory: real MongoDB through PyMongo's asyncio API, or an in-memory stand-in.

The stand-in wraps mongomock behind the same async method names as `pymongo.AsyncCollection`
for the subset the services use. Each call runs to completion without yielding, so every
single-document operation is atomic, as it is on MongoDB. It keeps nothing across restarts.
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
        "MONGO_URL is not set: using the in-memory store; NOTHING IS DURABLE and data is lost on restart",
        database=database,
    )
    memory: Any = mongomock.MongoClient(tz_aware=True)[database]
    return Store(cast(Database, InMemoryDatabase(memory)), None)
