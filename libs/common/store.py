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
from bson import ObjectId
from mongomock import helpers as mongomock_helpers
from prometheus_client import Counter
from pymongo import AsyncMongoClient, UpdateOne, monitoring
from pymongo.asynchronous.database import AsyncDatabase

from libs.common.logging import get_logger

Document = dict[str, Any]
Database = AsyncDatabase[Document]

log = get_logger(__name__)

PING_TIMEOUT_SECONDS = 2.0
SERVER_SELECTION_TIMEOUT_MS = 10_000

# Store round trips: every command a service sends (find, insert, update, findAndModify, getMore,
# ...), one per round trip, by command name. The bench reads it from each service's /metrics to
# report round trips per appeal per service (docs/performance.md).
STORE_COMMANDS = Counter("appeals_store_commands_total", "Commands sent to the store", ["command"])


class CommandCounter(monitoring.CommandListener):
    """Counts each command the driver starts (a PyMongo command listener, called synchronously on
    the driver's path: one counter increment per command)."""

    def __init__(self) -> None:
        self._by_name: dict[str, Any] = {}  # command name -> its counter (`labels` costs a lookup)

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        """Counts each store command by name."""
        counter = self._by_name.get(event.command_name)
        if counter is None:
            counter = self._by_name[event.command_name] = STORE_COMMANDS.labels(event.command_name)
        counter.inc()

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        """Nothing to record."""
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        """Nothing to record."""
        pass


COMMAND_COUNTER = CommandCounter()

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
        "index_information",
    }
)


_UPDATE_METHODS = frozenset({"update_one", "update_many", "find_one_and_update"})
# Methods whose first argument is a filter (`distinct` takes it second).
_FILTER_METHODS = frozenset(
    {
        "find_one",
        "find_one_and_update",
        "find_one_and_delete",
        "update_one",
        "update_many",
        "replace_one",
        "delete_one",
        "delete_many",
        "count_documents",
    }
)
_LOGICAL = frozenset({"$and", "$or", "$nor"})
_get_value_by_dot: Any = mongomock_helpers.get_value_by_dot


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


def _is_operators(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and all(str(key).startswith("$") for key in value)


def _filter(query: Any) -> Any:
    """The filter rewritten so that mongomock evaluates it as MongoDB does.

    - Each operator of `{path: {$gte: a, $lt: b}}` is a condition of its own: through an array
      (`assignments.received_at`) different elements may satisfy different operators ("Query an
      Array of Embedded Documents", MongoDB manual); mongomock wants one element to satisfy all.
      On a single value the two forms are the same.
    - `{"a.b": None}` matches when the path is missing ("Query for Null or Missing Fields"),
      also because `a` is null or not a document; mongomock finds no value there and fails.

    Equality fields stay at the top level, so an upsert still inserts them.
    """
    if not isinstance(query, dict):
        return query
    plain: dict[str, Any] = {}
    conditions: list[Any] = []
    for key, value in query.items():
        if key in _LOGICAL and isinstance(value, list):
            plain[key] = [_filter(item) for item in value]
        elif key.startswith("$"):
            plain[key] = value
        elif _is_operators(value) and len(value) > 1 and "$options" not in value:
            first, *rest = value.items()
            plain[key] = dict([first])
            conditions.extend({key: dict([item])} for item in rest)
        else:
            plain[key] = value
    for key in [key for key in plain if "." in key and not key.startswith("$")]:
        if plain[key] is None or plain[key] == {"$eq": None}:
            parts = key.split(".")
            not_documents = [
                {".".join(parts[:i]): {"$not": {"$type": "object"}}} for i in range(1, len(parts))
            ]
            conditions.append({"$or": [{key: plain.pop(key)}, *not_documents]})
    if conditions:
        plain["$and"] = [*plain.get("$and", []), *conditions]
    return plain


def _pipeline(pipeline: list[Document]) -> list[Document]:
    return [{"$match": _filter(stage["$match"])} if "$match" in stage else stage for stage in pipeline]


def _bson_values(value: Any) -> Any:
    """Values as BSON stores them: a `str` subclass (a StrEnum member) is a plain string, a
    tuple an array. mongomock would keep and return the Python objects."""
    if isinstance(value, str):
        return value if type(value) is str else str.__str__(value)
    if isinstance(value, dict):
        return {key: _bson_values(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_bson_values(item) for item in value]
    return value


def _with_id(document: Document) -> Document:
    """PyMongo adds a generated `_id` to the caller's document; the store gets a BSON copy."""
    if "_id" not in document:
        document["_id"] = ObjectId()
    return cast(Document, _bson_values(document))


def _ensure_uniques(collection: Any, new_data: Document) -> None:
    """mongomock's unique check, as MongoDB indexes: a missing field is indexed as null, except
    that a sparse index skips a document lacking every indexed field; a null value is indexed
    even by a sparse index ("Sparse Indexes", MongoDB manual), so two nulls collide there."""
    for index in collection._store.indexes.values():
        if not index.get("unique"):
            continue
        fields = [field for field, _ in index["key"]]
        present: dict[str, Any] = {}
        for field in fields:
            try:
                present[field] = _get_value_by_dot(new_data, field)
            except KeyError:
                continue
        if index.get("sparse") and not present:
            continue
        query: Document = {field: present.get(field) for field in fields}
        if index.get("sparse"):
            query = {"$and": [query, {"$or": [{field: {"$exists": True}} for field in fields]}]}
        if (partial := index.get("partialFilterExpression")) is not None:
            query = {"$and": [partial, query]}
        if len(list(collection._iter_documents(query))) > 1:
            raise mongomock.DuplicateKeyError("E11000 Duplicate Key Error", 11000)


class InMemoryCursor:
    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def sort(self, *args: Any, **kwargs: Any) -> InMemoryCursor:
        """Sort as PyMongo's cursor does; returns this cursor."""
        self._cursor = self._cursor.sort(*args, **kwargs)
        return self

    def skip(self, count: int) -> InMemoryCursor:
        """Skip `count` documents; returns this cursor."""
        self._cursor = self._cursor.skip(count)
        return self

    def limit(self, count: int) -> InMemoryCursor:
        """At most `count` documents; returns this cursor."""
        self._cursor = self._cursor.limit(count)
        return self

    async def to_list(self, length: int | None = None) -> list[Document]:
        """The documents, at most `length` of them (all if None)."""
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
        # This instance's unique checks, corrected (see `_ensure_uniques`).
        collection._ensure_uniques = lambda new_data: _ensure_uniques(collection, new_data)

    def find(self, *args: Any, **kwargs: Any) -> InMemoryCursor:
        """A cursor over the matching documents, the filter corrected where mongomock departs from
        MongoDB."""
        if args:
            args = (_filter(args[0]), *args[1:])
        if "filter" in kwargs:
            kwargs["filter"] = _filter(kwargs["filter"])
        return InMemoryCursor(self._collection.find(*args, **kwargs))

    async def aggregate(self, pipeline: list[Document], **kwargs: Any) -> InMemoryCursor:
        """Awaited first, as PyMongo's AsyncCollection.aggregate is."""
        kwargs.pop("session", None)
        return InMemoryCursor(self._collection.aggregate(_pipeline(pipeline), **kwargs))

    async def bulk_write(self, requests: list[UpdateOne], *, ordered: bool = True, **_: Any) -> None:
        """PyMongo's `UpdateOne` requests, each as `update_one` (the only kind the services send;
        mongomock's own bulk_write rejects PyMongo 4.20's requests). Raises TypeError for others."""
        for request in requests:
            if not isinstance(request, UpdateOne):
                raise TypeError(
                    f"the in-memory store's bulk_write takes UpdateOne, not {type(request).__name__}"
                )
            await self.update_one(request._filter, request._doc, upsert=bool(request._upsert))

    def __getattr__(self, name: str) -> Any:
        if name not in _ASYNC_METHODS:
            raise AttributeError(f"the in-memory store does not offer {name!r}")
        method = getattr(self._collection, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            """The mongomock method called with PyMongo's arguments adapted (`session` dropped)."""
            kwargs.pop("session", None)
            return method(*_arguments(name, list(args), kwargs), **kwargs)

        return call


def _arguments(name: str, args: list[Any], kwargs: dict[str, Any]) -> list[Any]:
    """The call's arguments as mongomock must see them to answer as MongoDB (rewrites `kwargs`
    in place): filters by `_filter`, written values by `_bson_values`, `$addToSet` deduplicated."""

    def rewrite(position: int, keyword: str, change: Any) -> None:
        """Replace the argument at `position` (or keyword `keyword`) by `change` of it, if given."""
        if len(args) > position:
            args[position] = change(args[position])
        elif keyword in kwargs:
            kwargs[keyword] = change(kwargs[keyword])

    if name in _FILTER_METHODS:
        rewrite(0, "filter", _filter)
    if name == "distinct":
        rewrite(1, "filter", _filter)
    if name in _UPDATE_METHODS:
        rewrite(1, "update", lambda update: _bson_values(_dedupe_add_to_set(update)))
    if name == "replace_one":
        rewrite(1, "replacement", _bson_values)
    if name == "insert_one":
        rewrite(0, "document", _with_id)
    if name == "insert_many":
        rewrite(0, "documents", lambda documents: [_with_id(document) for document in documents])
    return args


class InMemoryDatabase:
    def __init__(self, database: Any) -> None:
        self._database = database
        self.name: str = database.name

    def __getitem__(self, name: str) -> InMemoryCollection:
        return InMemoryCollection(self._database[name])

    def get_collection(self, name: str) -> InMemoryCollection:
        """The collection `name`, as `db[name]`."""
        return self[name]

    async def command(self, name: str, *args: Any, **kwargs: Any) -> Document:
        """Only `ping` is answered (`{"ok": 1.0}`); raises NotImplementedError for any other command."""
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
        """True for a wire store (MongoDB or the store process), False for the in-memory fake."""
        return self._client is not None

    async def ping(self) -> bool:
        # Bounded, so a readiness probe answers in time even when MongoDB does not.
        """True when the store answers a ping within `PING_TIMEOUT_SECONDS` (2 s); raises
        TimeoutError or the driver's error otherwise."""
        await asyncio.wait_for(self.db.command("ping"), timeout=PING_TIMEOUT_SECONDS)
        return True

    async def close(self) -> None:
        """Close the client (nothing to do for the in-memory store)."""
        if self._client is not None:
            await self._client.close()


def open_store(mongo_url: str | None, database: str) -> Store:
    """The service's store: `database` on the server at `mongo_url` (its commands counted in
    STORE_COMMANDS), or the in-process fake when no URL is given (nothing counted)."""
    if mongo_url:
        client: AsyncMongoClient[Document] = AsyncMongoClient(
            mongo_url,
            tz_aware=True,
            serverSelectionTimeoutMS=SERVER_SELECTION_TIMEOUT_MS,
            event_listeners=[COMMAND_COUNTER],
        )
        return Store(client[database], client)
    log.warning(
        "MONGO_URL is not set: using the in-process unit-test store; NOTHING IS DURABLE",
        database=database,
    )
    memory: Any = mongomock.MongoClient(tz_aware=True)[database]
    return Store(cast(Database, InMemoryDatabase(memory)), None)
